"""The DR Guard CrossGuard policy pack (deploy side).

Importable without side effects: `policypack.policies.build()` returns the policies and
`policypack.serve.main()` (called by the repository's `__main__.py`) starts the analyzer.
"""

PACK_NAME = "dr-guard"
