"""The boundaries: every process (kind, kubectl, docker) and every API call goes through here.

``runner`` starts processes and echoes each as a line a participant could type; ``kubectl`` is
the one vocabulary of kubectl command lines; ``apply`` plans order-safe server-side applies;
``kube`` holds the official client (one per thread) and the exec transport; ``kubeobjects``
reads the JSON that kubectl prints. Nothing else in the lab imports kubernetes or sh.
"""
