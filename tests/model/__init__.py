"""A model of the Kubernetes API server for the offline suite.

The lab's cluster-facing code is tested against behaviour instead of scripts: this package
serves the parts of the API the lab relies on over HTTP on 127.0.0.1, so that the project's
Python client code and a real ``kubectl`` binary talk to it exactly as they talk to a kind
cluster. It enforces the invariants a scripted fake cannot know about:

* namespaced objects are refused in a namespace that does not exist (NotFound) or is being
  deleted (Forbidden), as the NamespaceLifecycle admission plugin words it;
* custom resources exist only once their CRD is Established, and discovery serves only what
  is registered, so kubectl says ``no matches for kind`` as it would;
* server-side apply records field managers and reports a conflict unless forced;
* lists and deletes filter by label and field selectors with the API's grammar;
* Deployments and DaemonSets get pods, pods get a node and an IP once the network is up,
  restricted Pod Security is enforced where a namespace asks for it;
* the Tigera operator's visible part: tigerastatus, the calico-system tier and its policies.

What it deliberately does not model is listed in ``tests/model/README.md``.
"""

from tests.model.cluster import ModelCluster

__all__ = ["ModelCluster"]
