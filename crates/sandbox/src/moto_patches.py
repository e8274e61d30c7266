"""meshctl sandbox: corrections of moto where it is not AWS, patched into moto_server at start.

The sandbox starts moto_server with this file as `sitecustomize` on PYTHONPATH and the ELB
hosted zone table in MESHCTL_MOTO_ELB_ZONES (crates/sandbox/src/moto_patches.rs says why each
correction exists). Any other Python process never sees that variable, and nothing is patched.
A patch that no longer fits moto stops moto_server with a message, so a moto upgrade cannot
silently bring the gaps back.
"""

import inspect
import json
import os
import sys


def _patch_elbv2(zones):
    from moto.elbv2 import models as elbv2
    from moto.elbv2.exceptions import ELBClientError
    from moto.moto_api._internal import mock_random

    backend = elbv2.ELBv2Backend
    create_load_balancer = backend.create_load_balancer

    def patched_create_load_balancer(self, *args, **kwargs):
        region_zones = zones.get(self.region_name)
        if region_zones is None:
            raise ELBClientError(
                "ValidationError",
                f"meshctl sandbox: no canonical hosted zone id is known for region "
                f"{self.region_name}; add it to ELB_HOSTED_ZONES in crates/sandbox/src/moto_patches.rs",
            )
        lb = create_load_balancer(self, *args, **kwargs)
        if lb.type == "network":
            # AWS: arn:...:loadbalancer/net/NAME/ID and NAME-ID.elb.REGION.amazonaws.com.
            old = lb.arn
            new = old.replace(":loadbalancer/app/", ":loadbalancer/net/", 1)
            self.load_balancers[new] = self.load_balancers.pop(old)
            if old in self.tagging_service.tags:
                self.tagging_service.tags[new] = self.tagging_service.tags.pop(old)
            lb.arn = new
            lb.dns_name = (
                f"{lb.name}-{mock_random.get_random_hex(16)}.elb.{self.region_name}.amazonaws.com"
            )
            lb.canonical_hosted_zone_id = region_zones["network"]
        else:
            # AWS: [internal-]NAME-DIGITS.REGION.elb.amazonaws.com.
            prefix = "internal-" if lb.scheme == "internal" else ""
            digits = "".join(str(mock_random.randint(0, 9)) for _ in range(10))
            lb.dns_name = f"{prefix}{lb.name}-{digits}.{self.region_name}.elb.amazonaws.com"
            lb.canonical_hosted_zone_id = region_zones["application"]
        return lb

    backend.create_load_balancer = patched_create_load_balancer

    # moto gives every listener an SslPolicy (ELBSecurityPolicy-2016-08 by default); AWS only
    # HTTPS and TLS listeners.
    secure = ("HTTPS", "TLS")
    create_listener = backend.create_listener
    create_signature = inspect.signature(create_listener)

    def patched_create_listener(self, *args, **kwargs):
        bound = create_signature.bind(self, *args, **kwargs)
        if str(bound.arguments.get("protocol", "")).upper() not in secure:
            bound.arguments["ssl_policy"] = None
        return create_listener(*bound.args, **bound.kwargs)

    backend.create_listener = patched_create_listener

    modify_listener = backend.modify_listener

    def patched_modify_listener(self, *args, **kwargs):
        listener = modify_listener(self, *args, **kwargs)
        if str(listener.protocol).upper() not in secure:
            listener.ssl_policy = None
        return listener

    backend.modify_listener = patched_modify_listener


def _patch_route53():
    from moto.route53 import models as route53
    from moto.route53.exceptions import ResourceRecordAlreadyExists

    # moto refuses a CREATE whose change it journaled before when *any* record sorts at or after
    # the name (it lists from the name instead of looking the record up), so re-creating a deleted
    # record fails while another record follows it. AWS refuses a CREATE only when that record
    # (name, type, set identifier) exists now.
    change_resource_record_sets = route53.Route53Backend.change_resource_record_sets

    def canonical(name):
        return name.rstrip(".").lower() + "."

    def patched_change_resource_record_sets(self, zoneid, change_list):
        zone = self.get_hosted_zone(zoneid)
        for change in change_list:
            if change.get("Action") != "CREATE":
                continue
            wanted = change["ResourceRecordSet"]
            name = canonical(wanted["Name"])
            for existing in zone.rrsets:
                if (
                    canonical(existing.name) == name
                    and existing.type == wanted.get("Type")
                    and existing.set_identifier == wanted.get("SetIdentifier")
                ):
                    raise ResourceRecordAlreadyExists(name=name, _type=wanted.get("Type"))
        return change_resource_record_sets(self, zoneid, change_list)

    route53.Route53Backend.change_resource_record_sets = patched_change_resource_record_sets
    # The journal lookup is the one use of ChangeList.__contains__: with the check above doing
    # AWS's job, moto's own (wrong) check is switched off.
    route53.ChangeList.__contains__ = lambda self, item: False


def _patch_eks():
    from moto.eks import models as eks

    # moto tags, untags and lists the tags of clusters only; EKS does all three for managed
    # nodegroups too (by the nodegroup's ARN).
    tag_resource = eks.EKSBackend.tag_resource
    untag_resource = eks.EKSBackend.untag_resource
    list_tags_for_resource = eks.EKSBackend.list_tags_for_resource

    def nodegroup_by_arn(self, arn):
        for cluster in self.clusters.values():
            for nodegroup in cluster.nodegroups.values():
                if nodegroup.arn == arn:
                    return nodegroup
        return None

    def patched_tag_resource(self, resource_arn, tags):
        nodegroup = nodegroup_by_arn(self, resource_arn)
        if nodegroup is None:
            return tag_resource(self, resource_arn, tags)
        nodegroup.tags.update(tags)

    def patched_untag_resource(self, resource_arn, tag_keys):
        nodegroup = nodegroup_by_arn(self, resource_arn)
        if nodegroup is None:
            return untag_resource(self, resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            nodegroup.tags.pop(key, None)

    def patched_list_tags_for_resource(self, resource_arn):
        nodegroup = nodegroup_by_arn(self, resource_arn)
        if nodegroup is None:
            return list_tags_for_resource(self, resource_arn)
        return nodegroup.tags

    eks.EKSBackend.tag_resource = patched_tag_resource
    eks.EKSBackend.untag_resource = patched_untag_resource
    eks.EKSBackend.list_tags_for_resource = patched_list_tags_for_resource


def _apply():
    zones = json.loads(os.environ["MESHCTL_MOTO_ELB_ZONES"])
    _patch_elbv2(zones)
    _patch_route53()
    _patch_eks()


if os.environ.get("MESHCTL_MOTO_ELB_ZONES"):
    try:
        _apply()
    except Exception as error:  # a moto that no longer fits the patches: stop, saying why
        sys.stderr.write(
            f"meshctl sandbox: cannot correct moto ({type(error).__name__}: {error}); "
            "crates/sandbox/src/moto_patches.py needs updating for this moto version\n"
        )
        sys.stderr.flush()
        os._exit(3)
