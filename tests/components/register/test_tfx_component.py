"""The register step's custom TFX artifact type survives the trip through a Kubeflow IR: TFX's
container entrypoint imports the class by the type name the IR carries."""

from __future__ import annotations

import subprocess
import sys


def test_the_artifact_type_name_imports_its_class_without_loading_tfx_early() -> None:
    """`tandem.RegisteredModel` resolves lazily: importing tandem loads no TFX, and the name
    TFX's entrypoint imports (tfx.utils.import_utils) is the class the component emits."""
    script = (
        "import sys, tandem\n"
        "assert 'tfx' not in sys.modules, 'importing tandem loaded TFX'\n"
        "from tfx.utils.import_utils import import_class_by_path\n"
        "from components.register.tfx_component import RegisteredModel\n"
        "assert import_class_by_path(RegisteredModel.TYPE_NAME) is RegisteredModel\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
