"""smack-operators: operators for stateful data services on Kubernetes."""

__version__ = "0.1.0"
