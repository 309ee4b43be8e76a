"""The float64 oracle and the references it is held to: nn.GRU, published vectors, the
public strategies."""
