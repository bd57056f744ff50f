"""The Spark operator: SparkApplication and ScheduledSparkApplication."""
