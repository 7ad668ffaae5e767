"""The TFX pipeline's gate after ExampleValidator: anomalies stop the run."""
