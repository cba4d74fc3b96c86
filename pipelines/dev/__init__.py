"""Development tooling: local servers for the demo and the tests (s3:
SeaweedFS; clusters: standalone Flink and Spark), and the Maven build of
Beam's Flink and Spark job servers (jobservers), which a Flink or Spark
run given no job-server jar also calls, once, through runners.py.
"""
