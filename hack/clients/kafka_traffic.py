"""Kafka traffic through an operation, from a pod of smack-client:dev (traffic.py beside it).

    python kafka_traffic.py BOOTSTRAP TOPIC [RATE]

Creates TOPIC (6 partitions, replication factor 3, min.insync.replicas 2) unless it exists; then,
until /tmp/stop appears, an idempotent producer (acks=all, enable.idempotence) sends sequence number
n as key ``n % 64`` and value ``{"n": n, "t": send time}`` at RATE messages per second (default 50),
while a consumer group reads the topic live. After the stop the producer flushes (delivery timeout
120 s), and every partition is read from the beginning to its end offset: that read is the log's
truth, so ``received`` / ``duplicates`` / ``missing`` come from it (a duplicate is a number written
twice to the log: idempotence failed). The live consumer's figures are ``consumed_live`` (distinct)
and ``consumed_live_redelivered`` (records seen again after a rebalance: allowed, at-least-once).
Prints traffic.Ledger's JSON line; exit 0 when nothing acknowledged is missing.
"""

import contextlib
import json
import sys
import threading
import time
from collections import Counter

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError
from traffic import Ledger, paced, stop_requested

bootstrap, topic = sys.argv[1], sys.argv[2]
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 50.0

admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
with contextlib.suppress(TopicAlreadyExistsError):
    admin.create_topics([NewTopic(topic, 6, 3, topic_configs={"min.insync.replicas": "2"})], timeout_ms=30000)
admin.close()

ledger = Ledger()
live: Counter[int] = Counter()


def consume_live() -> None:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"{topic}-traffic",
                             auto_offset_reset="earliest", enable_auto_commit=True)
    while not stop_requested():
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                live[json.loads(record.value)["n"]] += 1
    consumer.close()


reader = threading.Thread(target=consume_live, daemon=True)
reader.start()
producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                         linger_ms=5, delivery_timeout_ms=120000, request_timeout_ms=30000)
last = time.monotonic()
for n in paced(rate):
    sent = time.time()
    future = producer.send(topic, key=str(n % 64).encode(), value=json.dumps({"n": n, "t": sent}).encode())
    ledger.on_sent()
    future.add_callback(lambda _meta, n=n, t=sent: ledger.on_ack(n, t))
    future.add_errback(lambda exc, n=n: ledger.on_fail(n, exc))
    if time.monotonic() - last >= 5:
        print(ledger.progress(), flush=True)
        last = time.monotonic()
producer.flush(timeout=180)
producer.close()
reader.join(timeout=30)

consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
consumer.assign(partitions)
consumer.seek_to_beginning(*partitions)
end = consumer.end_offsets(partitions)
while any(consumer.position(tp) < end[tp] for tp in partitions):
    for records in consumer.poll(timeout_ms=1000).values():
        for record in records:
            ledger.on_received(json.loads(record.value)["n"])
consumer.close()

print(ledger.report(topic=topic, rate=rate, consumed_live=len(live),
                    consumed_live_redelivered=sum(n - 1 for n in live.values())), flush=True)
sys.exit(1 if ledger.missing() else 0)
