"""Produces test events with Confluent's own Python client, as a user of spanflow would.

`SerializingProducer` with a `StringSerializer` key (the session id, or no key) and an
`AvroSerializer` value per schema version (default subject strategy `<topic>-value`, schemas
auto-registered), framing the schema by prefix (`prefix_schema_id_serializer`, the default) or
by header (`header_schema_id_serializer`: a `__value_schema_id` header with the schema GUID).

Usage: python produce.py JOB.json. The job holds `bootstrap`, `registry` (URL), `topic`,
`framing` (`prefix` or `header`), `compression` (librdkafka's `compression.type`), `keyed`,
`schemas` (Avro schema texts, one per version) and `events` (each `key`, `value`, `schema`
(index into `schemas`) and optionally `partition`). Prints one JSON line per delivered
message, in produce order: `{"partition": p, "offset": o}`. Exits 1 when a message is not
delivered.
"""

import json
import sys

from confluent_kafka import SerializingProducer
from confluent_kafka.schema_registry import (
    SchemaRegistryClient,
    header_schema_id_serializer,
    prefix_schema_id_serializer,
)
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import StringSerializer


class ByVersion:
    """The value serializer: each value names the schema version it is written with."""

    def __init__(self, serializers):
        self.serializers = serializers

    def __call__(self, obj, ctx):
        return self.serializers[obj["schema"]](obj["value"], ctx)


def main(path):
    with open(path) as f:
        job = json.load(f)
    registry = SchemaRegistryClient({"url": job["registry"]})
    id_serializer = {
        "prefix": prefix_schema_id_serializer,
        "header": header_schema_id_serializer,
    }[job["framing"]]
    serializers = [
        AvroSerializer(registry, schema, conf={"schema.id.serializer": id_serializer})
        for schema in job["schemas"]
    ]
    producer = SerializingProducer(
        {
            "bootstrap.servers": job["bootstrap"],
            "compression.type": job["compression"],
            "linger.ms": 20,
            # Several batches per partition (each compressed on its own).
            "batch.num.messages": 100,
            # Unkeyed messages each go to a random partition: the sticky partitioner would keep
            # a whole run on one partition whenever the batches fill within its linger time.
            "sticky.partitioning.linger.ms": 0,
            "message.timeout.ms": 30000,
            "key.serializer": StringSerializer("utf_8"),
            "value.serializer": ByVersion(serializers),
        }
    )
    delivered = [None] * len(job["events"])
    failed = []

    def report(i):
        def on_delivery(err, msg):
            if err is not None:
                failed.append(f"message {i}: {err}")
            else:
                delivered[i] = {"partition": msg.partition(), "offset": msg.offset()}

        return on_delivery

    for i, event in enumerate(job["events"]):
        kwargs = {}
        if event.get("partition") is not None:
            kwargs["partition"] = event["partition"]
        producer.produce(
            job["topic"],
            key=event["key"] if job["keyed"] else None,
            value={"schema": event["schema"], "value": event["value"]},
            # A list the header serializer appends to (None would make it fail).
            headers=[],
            on_delivery=report(i),
            **kwargs,
        )
        producer.poll(0)
    left = producer.flush(60)
    if failed or left:
        print(f"not delivered: {failed}, {left} still queued", file=sys.stderr)
        sys.exit(1)
    for d in delivered:
        print(json.dumps(d))


if __name__ == "__main__":
    main(sys.argv[1])
