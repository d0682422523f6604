"""Speed only: the sandbox's moto server starts sooner and answers its first requests sooner. No answer changes
(what moto lacks against AWS is in ``provisioner.sandbox.shims``). Installed by ``provisioner.sandbox.server``
before moto is imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Patch = Callable[[Any, str, Any], None]


def one_loader_for_every_botocore_session(patch: Patch = setattr) -> None:
    """moto opens botocore sessions of its own (three as it imports EC2, to list the regions, and one for its
    backends), and each would parse botocore's endpoint data, a megabyte of JSON, again: every session of the
    process shares one loader per data path, as mfprov's own sessions share one (``core.session.new_session``)."""
    import botocore.session

    create = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = create(search_path_string)
        return loaders[search_path_string]

    patch(botocore.session, "create_loader", create_loader)


class _MadeWhenUsed(dict):  # type: ignore[type-arg]
    """A backend's managed policies: AWS's own are put in the first time the mapping is used, whatever the use (a
    policy of the account's own is added through it too), so they come first, as in moto's."""

    def __init__(self, make: Callable[[], dict[str, Any]]) -> None:
        super().__init__()
        self._make: Callable[[], dict[str, Any]] | None = make

    def _fill(self) -> None:
        make = getattr(self, "_make", None)  # None too in a copy being rebuilt (its items come before its __dict__)
        if make is not None:
            self._make = None
            dict.update(self, make())


def _filling(name: str) -> Callable[..., Any]:
    method = getattr(dict, name)

    def call(self: _MadeWhenUsed, *args: Any, **kwargs: Any) -> Any:
        self._fill()
        return method(self, *args, **kwargs)

    return call


for _name in ("__getitem__", "__contains__", "__iter__", "__reversed__", "__len__", "__setitem__", "__delitem__",
              "__eq__", "__ne__", "__repr__", "__or__", "__ior__", "get", "keys", "values", "items", "pop", "popitem",
              "setdefault", "update", "copy", "clear"):  # fmt: skip
    setattr(_MadeWhenUsed, _name, _filling(_name))


def iam_aws_managed_policies_when_used(patch: Patch = setattr) -> None:
    """moto gives each of its six partitions (aws, aws-cn, aws-us-gov...) an IAM backend at the first request,
    and each builds all ~1,600 AWS managed policies at once: about 0.4 s of the sandbox's first call, for the one
    partition a stack uses, if it uses any. Each backend builds them the first time its policies are used."""
    from moto.iam.models import IAMBackend

    make = IAMBackend._init_aws_policies

    def init_managed_policies(self: Any) -> dict[str, Any]:
        def made() -> dict[str, Any]:
            self.aws_managed_policies = make(self)  # GetAccountAuthorizationDetails reads them after the mapping
            return {p.arn: p for p in self.aws_managed_policies}

        return _MadeWhenUsed(made)

    patch(IAMBackend, "_init_aws_policies", lambda self: [])
    patch(IAMBackend, "_init_managed_policies", init_managed_policies)


def install(patch: Patch = setattr) -> None:
    one_loader_for_every_botocore_session(patch)
    iam_aws_managed_policies_when_used(patch)
