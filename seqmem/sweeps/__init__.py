"""Many runs: a sweep of configs on a process pool or Ray (`sweep`, `pool`), the memory horizon (`horizon`)
and the memory profile (`bench`), each point a run directory named by what varies (`point_names`)."""
