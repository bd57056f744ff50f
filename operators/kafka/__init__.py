"""The Kafka operator: KRaft clusters from a KafkaCluster custom resource."""
