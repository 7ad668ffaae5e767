"""Finding a custom pair's builders: each way a builder path can be wrong is one line naming
the spec field and the path. The modules live in a directory put on the import path, as a
user's PYTHONPATH does."""

from __future__ import annotations

import sys
import textwrap

import pytest

from components.common.architectures import NetworkInput
from components.common.custom_models import (
    PROBE_ROWS,
    call_builder,
    check_probe_output,
    module_digest,
    probe_batch,
    resolve_builder,
)
from components.common.errors import TandemError
from components.common.text_tokens import CLS_ID, PAD_ID

NETS = """
WIDTH = 32


def build(n_inputs, n_outputs, width=8):
    if width % 2:
        raise ValueError(f"width must be even, got {width}\\nsecond line")
    return ("network", n_inputs, n_outputs, width)


def echo(n_inputs, n_outputs, **keywords):
    return (n_inputs, n_outputs, keywords)


class Builders:
    @staticmethod
    def build(n_inputs, n_outputs):
        return "static"
"""


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    """`nets` (builders) and `broken` (raises while importing) on the import path."""
    (tmp_path / "nets.py").write_text(textwrap.dedent(NETS))
    (tmp_path / "broken.py").write_text("raise RuntimeError('needs a GPU')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("nets", "broken"):
        sys.modules.pop(name, None)


def one_line_error(framework: str, path: str) -> str:
    with pytest.raises(TandemError) as raised:
        resolve_builder(framework, path)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"training.model.{framework}: {path}: ")
    return message


def test_a_builder_on_the_import_path_resolves(user_modules):
    assert resolve_builder("tensorflow", "nets:build")(9, 3) == ("network", 9, 3, 8)
    assert resolve_builder("pytorch", "nets:Builders.build")(9, 3) == "static"


@pytest.mark.usefixtures("user_modules")
@pytest.mark.parametrize(
    ("path", "problem"),
    [
        (
            "tandem_no_such_module.nets:build",
            "cannot import module 'tandem_no_such_module.nets' (ModuleNotFoundError: No module "
            "named 'tandem_no_such_module'): put its directory on PYTHONPATH here, or install "
            "it into the image on a cluster",
        ),
        ("broken:build", "importing module 'broken' raised RuntimeError: needs a GPU"),
        ("nets:biuld", "module 'nets' has no 'biuld'"),
        ("nets:Builders.missing", "module 'nets' has no 'Builders.missing'"),
        ("nets:WIDTH", "'WIDTH' is not callable (type int)"),
    ],
)
def test_a_bad_builder_path_is_one_line_naming_it(path, problem):
    assert one_line_error("pytorch", path) == f"training.model.pytorch: {path}: {problem}"


def test_a_builder_that_raises_is_one_line_with_its_arguments(user_modules):
    with pytest.raises(TandemError) as raised:
        call_builder("tensorflow", "nets:build", NetworkInput.tabular(9), 3, {"width": 7})
    assert str(raised.value) == (
        "training.model.tensorflow: nets:build: build(9, 3, width=7) raised ValueError: "
        "width must be even, got 7"
    )
    built = call_builder("tensorflow", "nets:build", NetworkInput.tabular(9), 3, {"width": 4})
    assert built == ("network", 9, 3, 4)


def test_an_array_or_text_builder_also_gets_its_input_described(user_modules):
    image = NetworkInput.array([28, 28, 1])
    assert call_builder("pytorch", "nets:echo", image, 10, {"width": 4}) == (
        784,
        10,
        {"input_shape": (28, 28, 1), "width": 4},
    )
    text = NetworkInput.text(vocabulary_size=500, max_length=64)
    assert call_builder("pytorch", "nets:echo", text, 2, {}) == (
        64,
        2,
        {"vocabulary_size": 500, "max_length": 64},
    )


def test_the_probe_batch_is_of_the_inputs_kind():
    image = probe_batch(NetworkInput.array([6, 5, 2]))
    assert image.shape == (PROBE_ROWS, 6, 5, 2) and image.dtype.name == "float32"
    ids = probe_batch(NetworkInput.text(vocabulary_size=40, max_length=6))
    assert ids.shape == (PROBE_ROWS, 6) and ids.dtype.name == "int64"
    assert (ids[:, 0] == CLS_ID).all()
    pieces = ids[:, 1:]
    assert ((pieces == PAD_ID) | ((pieces > CLS_ID) & (pieces < 40))).all()
    # Row r: [CLS], r + 1 pieces, then padding only.
    assert [int((row != PAD_ID).sum()) for row in ids] == [2, 3, 4, 5]
    assert all((row[(row != PAD_ID).sum() :] == PAD_ID).all() for row in ids)


def test_the_probe_output_must_be_batch_by_outputs():
    batch = probe_batch(NetworkInput.tabular(9))
    assert batch.shape == (PROBE_ROWS, 9) and batch.dtype.name == "float32"
    check_probe_output("pytorch", "nets:build", (PROBE_ROWS, 3), batch.shape, 3)
    with pytest.raises(TandemError) as raised:
        check_probe_output("pytorch", "nets:build", (PROBE_ROWS, 4), batch.shape, 3)
    assert str(raised.value) == (
        "training.model.pytorch: nets:build: the network maps a probe batch of shape (4, 9) to "
        "shape (4, 4), expected (4, 3): (batch, n_outputs) raw outputs"
    )
    with pytest.raises(TandemError, match="to something without a shape, expected"):
        check_probe_output("pytorch", "nets:build", None, batch.shape, 3)


def test_the_module_digest_follows_its_source(user_modules):
    before = module_digest("nets:build")
    assert before is not None and len(before) == 64
    (user_modules / "nets.py").write_text(textwrap.dedent(NETS) + "\nEXTRA = 1\n")
    assert module_digest("nets:build") not in (None, before)
    assert module_digest("tandem_no_such_module:build") is None
