"""Code-generation scoring: extracting code from model output, LiveCodeBench problems and grading."""
