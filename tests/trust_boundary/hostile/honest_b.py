"""A correct GRU, graded beside the hostile submissions: it must stay conformant."""

from _gru import HonestGRU


class Adapter(HonestGRU):
    pass
