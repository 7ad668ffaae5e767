"""tandem's own TFX components: the example-validation gate and the shared evaluator.

Each module keeps its logic in plain functions and wraps it in a thin Python-function component
(`tfx.dsl.component.experimental.decorators.component`); TFX is imported by those modules only.
"""
