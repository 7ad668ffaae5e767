"""tandem's pipelines, their runners and the `tandem` command line."""
