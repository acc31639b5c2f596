"""Code generation: ahead-of-time kernel parameters, the activation memory plan, C tables."""
