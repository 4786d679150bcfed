"""pytest plugin for ``./dev mutate`` (docs/mutation.md); the normal test run never loads it.

It registers the Hypothesis profile ``mutation``: the same examples on every run
(``derandomize``), so a mutant's verdict does not depend on luck; no deadline or too-slow
health check, because one worker at the lowest priority on a shared machine is slow; and no
shrinking, because a mutant is killed by the first failing example and shrinking it cost
20 s per mutant.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "mutation",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
