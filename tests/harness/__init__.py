"""Engine-faithful test harness for the DR Guard CrossGuard policy pack.

- :mod:`tests.harness.capture`: run a real Pulumi Python program under the SDK's mock runtime
  and record what the engine would send to a policy pack (types, URNs, wire-form properties,
  options, dependencies, providers), in preview or update mode.
- :mod:`tests.harness.analyzer`: launch a policy pack exactly as the Pulumi CLI does and drive it
  over the Analyzer gRPC protocol (ConfigureStack, GetAnalyzerInfo, Configure, Remediate,
  Analyze, AnalyzeStack).
- :mod:`tests.harness.fixtures`: pytest fixtures ``policy_pack``, ``analyzer``, ``capture``.
- :mod:`tests.harness.wire`: the wire encoding of secrets and unknowns.
"""
