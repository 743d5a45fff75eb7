"""esteira: the company's data pipelines on the PySpark API (embedded Sail or JVM Spark)."""

__version__ = "0.1.0"
