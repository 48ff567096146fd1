"""MQTT 5 connections to the broker (awsiotsdk / awscrt): the local cloud's over WebSockets,
AWS IoT Core's with mutual TLS. awscrt and awsiotsdk are imported only to connect: the rest
of the simulator, and the `idnode` command line, load without them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from idnode.cli.simulator.keys import DeviceCredentials
from idnode.cli.simulator.simulation import DeviceSession

KEEP_ALIVE_SECONDS = 60
AWS_MQTT_PORT = 8883


@dataclass(frozen=True, slots=True)
class LocalBroker:
    """The local cloud's broker: MQTT over WebSockets, no TLS; it routes on the Host header."""

    host: str
    port: int
    host_header: str


@dataclass(frozen=True, slots=True)
class AwsBroker:
    """AWS IoT Core: MQTT with mutual TLS, the device's certificate and key."""

    port: int = AWS_MQTT_PORT


Broker = LocalBroker | AwsBroker


class MqttLink:
    """One device's MQTT 5 client (awscrt), reporting its events to the session."""

    def __init__(
        self, credentials: DeviceCredentials, broker: Broker, session: DeviceSession
    ) -> None:
        self._session = session
        self._client = _mqtt_client(credentials, broker, self)

    def start(self) -> None:
        self._client.start()

    def stop(self) -> None:
        self._client.stop()

    def subscribe(self, topics: Sequence[str], done: Callable[[bool], None]) -> None:
        from awscrt import mqtt5  # type: ignore[import-untyped]  # noqa: PLC0415

        packet = mqtt5.SubscribePacket(
            subscriptions=[
                mqtt5.Subscription(topic_filter=topic, qos=mqtt5.QoS.AT_LEAST_ONCE)
                for topic in topics
            ]
        )
        future = self._client.subscribe(packet)

        def finished(result: Any) -> None:
            try:
                codes = result.result().reason_codes or ()
            except Exception:  # any failure of the operation is a refusal
                done(False)
                return
            done(all(int(code) <= int(mqtt5.SubackReasonCode.GRANTED_QOS_2) for code in codes))

        future.add_done_callback(finished)

    def publish(self, topic: str, payload: bytes, done: Callable[[bool], None]) -> None:
        from awscrt import mqtt5  # noqa: PLC0415

        accepted = (mqtt5.PubackReasonCode.SUCCESS, mqtt5.PubackReasonCode.NO_MATCHING_SUBSCRIBERS)
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)

        def finished(result: Any) -> None:
            try:
                puback = result.result().puback
            except Exception:  # a publish that did not complete failed
                done(False)
                return
            done(puback is not None and puback.reason_code in accepted)

        self._client.publish(packet).add_done_callback(finished)

    # awscrt lifecycle callbacks (each takes exactly one argument)

    def on_publish_received(self, data: Any) -> None:
        packet = data.publish_packet
        payload = packet.payload
        self._session.on_message(packet.topic, bytes(payload) if payload is not None else b"")

    def on_connection_success(self, _data: Any) -> None:
        self._session.on_connected()

    def on_connection_failure(self, data: Any) -> None:
        self._session.on_connection_failure(str(data.exception))

    def on_disconnection(self, _data: Any) -> None:
        self._session.on_disconnected()

    def on_stopped(self, _data: Any) -> None:
        self._session.on_stopped()


def _mqtt_client(credentials: DeviceCredentials, broker: Broker, link: MqttLink) -> Any:
    from awscrt import mqtt5  # noqa: PLC0415

    if isinstance(broker, LocalBroker):
        host_header = broker.host_header

        def handshake(transform_args: Any) -> None:  # awscrt passes it by this name
            transform_args.http_request.headers.set("Host", host_header)
            transform_args.set_done()

        # mqtt5_client_builder always wraps its connection in TLS; the local broker has none,
        # so its client is configured directly (the same awscrt client the builder makes).
        return mqtt5.Client(
            mqtt5.ClientOptions(
                host_name=broker.host,
                port=broker.port,
                tls_ctx=None,
                websocket_handshake_transform=handshake,
                connect_options=mqtt5.ConnectPacket(
                    client_id=credentials.device_id, keep_alive_interval_sec=KEEP_ALIVE_SECONDS
                ),
                # The default flow control caps a client at IoT Core's 100 publishes/s.
                extended_validation_and_flow_control_options=(
                    mqtt5.ExtendedValidationAndFlowControlOptions.NONE
                ),
                disable_metrics=True,
                on_publish_callback_fn=link.on_publish_received,
                on_lifecycle_event_connection_success_fn=link.on_connection_success,
                on_lifecycle_event_connection_failure_fn=link.on_connection_failure,
                on_lifecycle_event_disconnection_fn=link.on_disconnection,
                on_lifecycle_event_stopped_fn=link.on_stopped,
            )
        )
    from awsiot import mqtt5_client_builder  # type: ignore[import-untyped]  # noqa: PLC0415

    return mqtt5_client_builder.mtls_from_bytes(
        cert_bytes=credentials.certificate_pem,
        pri_key_bytes=credentials.private_key_pem,
        endpoint=credentials.endpoint.split(":")[0],
        port=broker.port,
        client_id=credentials.device_id,
        keep_alive_interval_sec=KEEP_ALIVE_SECONDS,
        enable_metrics_collection=False,
        on_publish_received=link.on_publish_received,
        on_lifecycle_connection_success=link.on_connection_success,
        on_lifecycle_connection_failure=link.on_connection_failure,
        on_lifecycle_disconnection=link.on_disconnection,
        on_lifecycle_stopped=link.on_stopped,
    )
