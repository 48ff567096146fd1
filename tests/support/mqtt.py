"""A device's MQTT 5 session with the local cloud's broker, for end-to-end scenarios.

The local cloud serves MQTT over WebSockets on its gateway port, without TLS or client
certificates; the broker routes by the `Host` header, which must be the account's IoT data
endpoint (see shared/design/toolchain.md).
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from awscrt import mqtt5

CONNECT_TIMEOUT = 30.0


class DeviceSession:
    """One connected client: publishes JSON and keeps every message it receives."""

    def __init__(self, endpoint_url: str, iot_endpoint: str, client_id: str) -> None:
        gateway = urlsplit(endpoint_url)
        port = gateway.port or 80
        self.client_id = client_id
        self.received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._connected = threading.Event()
        self._stopped = threading.Event()
        self._failure: str | None = None

        # The local cloud's describe_endpoint answer carries its port already.
        host = iot_endpoint if ":" in iot_endpoint else f"{iot_endpoint}:{port}"

        def handshake(transform_args: mqtt5.WebsocketHandshakeTransformArgs) -> None:
            transform_args.http_request.headers.set("Host", host)
            transform_args.set_done()

        def on_failure(data: mqtt5.LifecycleConnectFailureData) -> None:
            self._failure = repr(data.exception)

        self._client = mqtt5.Client(
            mqtt5.ClientOptions(
                host_name=gateway.hostname or "127.0.0.1",
                port=port,
                websocket_handshake_transform=handshake,
                connect_options=mqtt5.ConnectPacket(
                    client_id=client_id, keep_alive_interval_sec=30
                ),
                session_behavior=mqtt5.ClientSessionBehaviorType.CLEAN,
                on_publish_callback_fn=self._on_publish,
                on_lifecycle_event_connection_success_fn=lambda _data: self._connected.set(),
                on_lifecycle_event_connection_failure_fn=on_failure,
                on_lifecycle_event_stopped_fn=lambda _data: self._stopped.set(),
            )
        )

    def _on_publish(self, data: mqtt5.PublishReceivedData) -> None:
        packet = data.publish_packet
        try:
            document = json.loads(bytes(packet.payload))
        except ValueError:
            document = {"raw": bytes(packet.payload).decode(errors="replace")}
        self.received.put((packet.topic, document))

    def connect(self) -> DeviceSession:
        self._client.start()
        if not self._connected.wait(CONNECT_TIMEOUT):
            self._client.stop()
            raise AssertionError(f"{self.client_id} did not connect: {self._failure}")
        return self

    def subscribe(self, *topic_filters: str) -> None:
        packet = mqtt5.SubscribePacket(
            subscriptions=[
                mqtt5.Subscription(f, qos=mqtt5.QoS.AT_LEAST_ONCE) for f in topic_filters
            ]
        )
        self._client.subscribe(packet).result(CONNECT_TIMEOUT)

    def publish(self, topic: str, message: dict[str, Any] | bytes) -> None:
        """Publish at QoS 1 and wait for the broker's acknowledgement."""
        payload = message if isinstance(message, bytes) else json.dumps(message).encode()
        packet = mqtt5.PublishPacket(topic=topic, payload=payload, qos=mqtt5.QoS.AT_LEAST_ONCE)
        self._client.publish(packet).result(CONNECT_TIMEOUT)

    def next_message(
        self, accept: Callable[[str, dict[str, Any]], bool], timeout: float
    ) -> tuple[str, dict[str, Any]]:
        """The first received message `accept` takes (others are dropped), within `timeout`."""
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        try:
            while not deadline.is_set():
                try:
                    topic, document = self.received.get(timeout=0.2)
                except queue.Empty:
                    continue
                if accept(topic, document):
                    return topic, document
        finally:
            timer.cancel()
        raise AssertionError(f"{self.client_id} received no expected message in {timeout} s")

    def close(self) -> None:
        self._client.stop()
        self._stopped.wait(CONNECT_TIMEOUT)
