"""Speed benchmarks of the media pipeline; results and commands in docs/BENCHMARKS.md."""
