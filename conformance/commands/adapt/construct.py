"""Building the thing: which constructor argument is the input size, which the hidden
size, and what the others are.

Arguments are matched by name (``input_size``, ``input_dim``, ``n_in``, ``i``, ``hidden_size``,
``hidden_dim``, ``units``, ``h``, ...); nn.GRU's own options get nn.GRU's defaults when they have
none; an output size (``o``, ``output_size``, ``n_out``...) gets a size of its own; anything
else without a default is asked for (``--arg name=value``: ``input_size``, ``hidden_size`` or
a Python literal). A constructor with a hidden size and no input size (a library layer that
reads it from its first input, Keras style) is built without one. A constructor taking only
``*args`` / ``**kwargs`` (an ``nn.GRU`` subclass) gets the two sizes by position.

The arguments that choose layers, directions and the layout (``num_layers``, ``bidirectional``,
``batch_first`` and their usual other names) are remembered, so that probing can build the
thing with several layers or both directions and the adapter can pass ``config``'s values.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import dataclass, field
from typing import Any

INPUT_NAMES = ("input_size", "input_dim", "input_dims", "in_features", "in_size", "in_dim", "n_in", "n_input",
               "n_inputs", "num_inputs", "ninp", "d_in", "dim_in", "x_dim", "x_size", "input_units",
               "input_features", "inp_size", "inp_dim", "input_shape", "nin", "i_size", "isize", "i", "ni",
               "n_i", "d_i")
HIDDEN_NAMES = ("hidden_size", "hidden_dim", "hidden_dims", "hidden", "hid_dim", "hid_size", "n_hidden",
                "num_hidden", "num_hiddens", "nhid", "nhidden", "hidden_units", "units", "num_units", "n_units",
                "h_dim", "h_size", "d_hidden", "dim_hidden", "state_size", "hidden_features", "d_model",
                "out_features", "n_h", "hsize", "nh", "h", "d_h", "num_hidden_units", "rnn_size", "rnn_units",
                "hid")
#: Output sizes (a projection after the recurrence): given a size of their own, one no GRU
#: tensor has, so that the projection's tensors are told apart from the GRU's.
OUTPUT_NAMES = ("o", "output_size", "output_dim", "out_size", "out_dim", "n_out", "num_outputs", "n_outputs",
                "output_units", "num_classes", "n_classes", "nout", "no", "d_out", "dim_out")
OUTPUT_SIZE = "7"
#: Names of the arguments that choose layers, directions and the layout, by config field.
CONFIG_OPTIONS = {"num_layers": ("num_layers", "n_layers", "nlayers", "layers", "num_layer", "layer_num", "n_layer",
                                 "rnn_layers", "depth"),
                  "bidirectional": ("bidirectional", "bidir", "bi", "bidirection", "is_bidirectional"),
                  "batch_first": ("batch_first", "batchfirst")}
#: nn.GRU's options, given nn.GRU's defaults when a constructor requires them.
GRU_DEFAULTS = {"num_layers": "1", "bias": "True", "batch_first": "False", "dropout": "0.0",
                "bidirectional": "False"}
SIZES = ("input_size", "hidden_size")
#: What an argument's value can name besides a literal: a size, or a config option.
SYMBOLS = SIZES + tuple(CONFIG_OPTIONS)


class Missing(Exception):
    """Constructor arguments that could not be guessed: (name, annotation) pairs; the name
    "?input_size" ("?hidden_size") asks which argument that size is (the annotation then
    lists the arguments)."""

    def __init__(self, names: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(n for n, _ in names))
        self.names = names


@dataclass
class Argument:
    name: str
    #: "input_size", "hidden_size", or the source text of a Python literal.
    value: str
    positional: bool = False

    def code(self, config: str = "config") -> str:
        """The argument as written in the adapter's ``build``."""
        value = f"{config}.{self.value}" if self.value in SYMBOLS else self.value
        return value if self.positional else f"{self.name}={value}"

    def evaluate(self, sizes: dict[str, Any]) -> Any:
        return sizes[self.value] if self.value in SYMBOLS else ast.literal_eval(self.value)


@dataclass
class Constructor:
    arguments: list[Argument] = field(default_factory=list)
    #: Config field -> the argument that sets it (present in the signature, given or not).
    options: dict[str, str] = field(default_factory=dict)

    def build(self, cls: Any, sizes: dict[str, Any]) -> Any:
        args = [a.evaluate(sizes) for a in self.arguments if a.positional]
        kwargs = {a.name: a.evaluate(sizes) for a in self.arguments if not a.positional}
        return cls(*args, **kwargs)

    def code(self, name: str, config: str = "config") -> str:
        return f"{name}({', '.join(a.code(config) for a in self.arguments)})"

    @property
    def infers_input(self) -> bool:
        """Built without an input size: the thing reads it from its first input."""
        return "input_size" not in {a.value for a in self.arguments}

    def configured(self, fields: tuple[str, ...]) -> "Constructor":
        """The same constructor with ``fields`` (config options it has arguments for) passed
        from the config: ``num_layers=config.num_layers``."""
        arguments = [a for a in self.arguments if a.name not in {self.options[f] for f in fields}]
        arguments += [Argument(self.options[f], f) for f in fields]
        return Constructor(arguments, dict(self.options))

    def to_json(self) -> dict[str, Any]:
        return {"arguments": [{"name": a.name, "value": a.value, "positional": a.positional}
                              for a in self.arguments], "options": self.options}

    @classmethod
    def from_json(cls, data: Any) -> "Constructor":
        if isinstance(data, list):  # findings written before options were kept
            data = {"arguments": data, "options": {}}
        return cls([Argument(d["name"], d["value"], d["positional"]) for d in data["arguments"]],
                   dict(data.get("options", {})))


def parse_given(items: list[str]) -> dict[str, str]:
    """``["n_in=input_size", "seed=0"]`` -> {"n_in": "input_size", "seed": "0"}; a value that is
    not a literal nor a size is taken as a string."""
    given: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise ValueError(f"--arg {item!r}: say NAME=VALUE (VALUE: input_size, hidden_size or a Python literal)")
        given[name.strip()] = literal_text(value.strip())
    return given


def literal_text(value: str) -> str:
    if value in SIZES:
        return value
    try:
        ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return repr(value)
    return value


def plan(cls: Any, given: dict[str, str]) -> Constructor:
    """How to call ``cls``'s constructor for any input and hidden size. Raises ``Missing``."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    parameters = [] if signature is None else list(signature.parameters.values())
    named = [p for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if not named:
        # nn.GRU subclasses and other *args constructors: the sizes by position, as nn.GRU takes them.
        extra = [Argument(n, v) for n, v in given.items() if v not in SIZES]
        return Constructor([Argument("input_size", "input_size", True),
                            Argument("hidden_size", "hidden_size", True), *extra])
    arguments: list[Argument] = []
    missing: list[tuple[str, str]] = []
    options = {field_: p.name for p in named for field_, names in CONFIG_OPTIONS.items() if p.name.lower() in names}
    for p in named:
        positional_only = p.kind == p.POSITIONAL_ONLY
        lowered = p.name.lower()
        if p.name in given:
            arguments.append(Argument(p.name, given[p.name], positional_only))
        elif lowered in INPUT_NAMES and "input_size" not in {a.value for a in arguments}:
            arguments.append(Argument(p.name, "input_size", positional_only))
        elif lowered in HIDDEN_NAMES and "hidden_size" not in {a.value for a in arguments}:
            arguments.append(Argument(p.name, "hidden_size", positional_only))
        elif p.default is not p.empty:
            continue  # its own default
        elif lowered in GRU_DEFAULTS or p.name in options.values():
            field_ = next((f for f, n in options.items() if n == p.name), lowered)
            arguments.append(Argument(p.name, GRU_DEFAULTS.get(field_, GRU_DEFAULTS.get(lowered, "1")),
                                      positional_only))
        elif lowered in OUTPUT_NAMES:
            arguments.append(Argument(p.name, OUTPUT_SIZE, positional_only))
        else:
            annotation = "" if p.annotation is p.empty else getattr(p.annotation, "__name__", str(p.annotation))
            missing.append((p.name, annotation))
    values = {a.value for a in arguments}
    # A hidden size and no input size: built without one (it reads it from its first input;
    # probing says so when it cannot be built or called that way).
    if not missing and "hidden_size" not in values:
        # "?hidden_size": the question is which argument it is.
        raise Missing([("?hidden_size", ", ".join(p.name for p in named))])
    if missing:
        raise Missing(missing)
    return Constructor(arguments, options)
