"""netpol-lab: a hands-on Kubernetes NetworkPolicy lab (kind + Calico, probes, an offline evaluator)."""

__version__ = "0.1.0"
