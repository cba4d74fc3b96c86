"""Development tooling, outside the runtime path: local servers for the demo
and the tests (s3: SeaweedFS; clusters: standalone Flink and Spark), and the
Maven build of Beam's Flink and Spark job servers (jobservers).
"""
