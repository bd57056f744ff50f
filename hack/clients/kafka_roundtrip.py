"""Produce N messages with acks=all and consume them all back, from a pod of smack-client:dev.

    python kafka_roundtrip.py BOOTSTRAP TOPIC COUNT

Creates TOPIC (3 partitions, replication factor 3, min.insync.replicas 2) unless it exists,
produces COUNT messages (each value carries its number and send time), reads every partition from
the beginning up to the end offsets seen after the produce, and prints one JSON line:
produced, acked, failed (send errors), received, lost (acknowledged but not received: must be 0),
first/last offset per partition, the produce and consume wall times (s) and the acknowledgement
latency (send → acks=all acknowledged) p50/p99/max in ms. Exit 0 when every acknowledged message came back.
"""

import json
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

bootstrap, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])

admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
try:
    admin.create_topics([NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})], timeout_ms=30000)
except TopicAlreadyExistsError:
    pass
admin.close()

acked: set[int] = set()
latencies: list[float] = []
failed: list[str] = []
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, retries=10,
                         max_in_flight_requests_per_connection=1)
start = time.monotonic()
for i in range(count):
    sent = time.monotonic()
    future = producer.send(topic, key=str(i).encode(), value=json.dumps({"n": i}).encode())
    future.add_callback(lambda _meta, n=i, t=sent: (acked.add(n), latencies.append((time.monotonic() - t) * 1000)))
    future.add_errback(lambda exc: failed.append(repr(exc)))
producer.flush(timeout=120)
producer.close()
produce_s = time.monotonic() - start

consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)
end = consumer.end_offsets(partitions)
received: set[int] = set()
offsets: dict[int, list[int]] = {}
start = time.monotonic()
while any(consumer.position(tp) < end[tp] for tp in partitions):
    for tp, records in consumer.poll(timeout_ms=1000).items():
        for record in records:
            body = json.loads(record.value)
            received.add(body["n"])
            first_last = offsets.setdefault(tp.partition, [record.offset, record.offset])
            first_last[1] = record.offset
consume_s = time.monotonic() - start
consumer.close()

latencies.sort()


def percentile(q: float) -> float:
    return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1) if latencies else 0.0


lost = sorted(acked - received)
print(json.dumps({"topic": topic, "produced": count, "acked": len(acked), "failed": len(failed),
                  "errors": failed[:3], "received": len(received), "lost": len(lost), "lost_sample": lost[:10],
                  "offsets": {str(p): fl for p, fl in sorted(offsets.items())},
                  "produce_s": round(produce_s, 2), "consume_s": round(consume_s, 2),
                  "latency_ms": {"p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)}}))
sys.exit(1 if lost else 0)
