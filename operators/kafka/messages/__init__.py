"""Kafka protocol message schemas that kafka-python 3.0.12 does not ship, in Kafka's own JSON schema form
(clients/src/main/resources/common/message/ in apache/kafka), which kafka-python's ``ApiMessage`` reads
(``load_json``): UnregisterBroker (api key 64, KIP-631), used by :mod:`operators.kafka.client`."""
