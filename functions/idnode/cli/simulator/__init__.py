"""`idnode simulate`: a fleet of simulated industrial sensors speaking MQTT to the platform.

Each simulated device is provisioned the way a real one is (its private key is made here and
only its CSR goes to the platform), then publishes telemetry, answers commands and applies the
desired state of its shadow.

`sensor` is the pump sensor's profile and readings; `behaviour` what a device does with the
messages it sends and receives; `counters` what the fleet has done; `simulation` the devices
on their links and the publishing schedule; `keys` their keys and certificates on this
machine; `platform` the platform's GraphQL operations; `provisioning` the fleet registered and
provisioned; `endpoints` where the platform is; `mqtt` the broker connections; `command` the
command line.
"""

from idnode.cli.simulator.command import add_simulate_parser, run_simulate

__all__ = ["add_simulate_parser", "run_simulate"]
