"""issue 8's side-by-side benchmark (``python -m bench``) and its micro-benchmarks; not part of the product."""
