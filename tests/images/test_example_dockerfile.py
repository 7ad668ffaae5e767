"""The example custom pair's Dockerfile, checked statically: an image derived with it finds both
builders' modules on its PYTHONPATH and keeps the base image's user."""

from __future__ import annotations

from pathlib import PurePosixPath

from components.spec import load_spec
from tandem.deploy.image_requirements import ROOT
from tests.images.dockerfile import copied_sources, env_pairs, instructions

EXAMPLE = ROOT / "examples" / "custom_pair"
DOCKERFILE = EXAMPLE / "Dockerfile"


def unimportable_builders(text: str, builder_paths: list[str]) -> list[str]:
    """The builder paths whose module file the image's PYTHONPATH does not reach through a COPY
    from the build context (this directory)."""
    parsed = instructions(text)
    copies = {
        PurePosixPath(image): source for image, source in copied_sources(parsed, EXAMPLE).items()
    }
    entries = [PurePosixPath(e) for e in env_pairs(parsed).get("PYTHONPATH", "").split(":") if e]
    missing = []
    for path in builder_paths:
        relative = PurePosixPath(*path.partition(":")[0].split(".")).with_suffix(".py")
        found = any(
            (entry / relative).is_relative_to(image)
            and (source / (entry / relative).relative_to(image)).is_file()
            for entry in entries
            for image, source in copies.items()
        )
        if not found:
            missing.append(path)
    return missing


def builder_paths() -> list[str]:
    model = load_spec(EXAMPLE / "penguins_gated.yaml").spec.training.model
    return [model.tensorflow, model.pytorch]


def test_both_builders_are_on_the_derived_images_pythonpath():
    assert unimportable_builders(DOCKERFILE.read_text(), builder_paths()) == []


def test_a_pythonpath_that_misses_the_copy_is_caught():
    broken = DOCKERFILE.read_text().replace(
        "ENV PYTHONPATH=/opt/tandem-models", "ENV PYTHONPATH=/opt/elsewhere"
    )
    assert unimportable_builders(broken, builder_paths()) == builder_paths()


def test_the_image_derives_either_runtime_image_and_keeps_its_user():
    parsed = instructions(DOCKERFILE.read_text())
    assert [(i.keyword, i.value) for i in parsed[:2]] == [
        ("ARG", "TANDEM_IMAGE"),
        ("FROM", "${TANDEM_IMAGE}"),
    ]
    assert "USER" not in {instruction.keyword for instruction in parsed}
