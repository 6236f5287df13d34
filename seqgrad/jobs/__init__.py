"""The jobs: measurements that load, train, plot and write files, built on `seqgrad.gradflow` (the pure
diagnostics), `seqgrad.train` and `seqgrad.report`.

* `gradient_flow`: the main job (``scripts/analyze.py``): every architecture's gradient flow across a
  grid of conditions, and the page's claims tested on it.
* `trained`: a training run's parameters, loaded as an entry of the main job.
* `learned`: gradient flow before and after training (``scripts/learned_gradient_flow.py``).
* `memory_curse`: the curse of memory of scalar recurrences (``scripts/curse_of_memory.py``).
* `learnability`: which architecture learns which length, from a sweep (``scripts/learnability.py``).
"""
