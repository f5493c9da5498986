"""Points the scheduler's DNS record at the scheduler instance.

Invoked by EventBridge on every EC2 instance state change in the region
(and by Terraform after an apply). It reads the scheduler's auto-scaling
group, and when the private addresses of its pending or running instances
differ from the A record, UPSERTs the record. With no scheduler instance it
leaves the record alone: a new one is on its way, and workers retry.
"""

import os

import boto3

GROUP = os.environ["AUTO_SCALING_GROUP"]
ZONE_ID = os.environ["HOSTED_ZONE_ID"]
RECORD = os.environ["RECORD_NAME"].rstrip(".") + "."
TTL = 30

autoscaling = boto3.client("autoscaling")
ec2 = boto3.client("ec2")
route53 = boto3.client("route53")


def scheduler_addresses():
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    ids = [
        i["InstanceId"]
        for g in groups["AutoScalingGroups"]
        for i in g["Instances"]
        if i["LifecycleState"] in ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
    ]
    if not ids:
        return []
    addresses = []
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                if instance["State"]["Name"] in ("pending", "running") and instance.get("PrivateIpAddress"):
                    addresses.append(instance["PrivateIpAddress"])
    return sorted(addresses)


def current_record():
    answer = route53.list_resource_record_sets(
        HostedZoneId=ZONE_ID, StartRecordName=RECORD, StartRecordType="A", MaxItems="1"
    )
    for rrset in answer["ResourceRecordSets"]:
        if rrset["Name"] == RECORD and rrset["Type"] == "A":
            return sorted(r["Value"] for r in rrset.get("ResourceRecords", []))
    return []


def handler(event, context):
    addresses = scheduler_addresses()
    if not addresses:
        print(f"no scheduler instance in {GROUP}; record left as it is")
        return {"changed": False, "addresses": []}
    if addresses == current_record():
        return {"changed": False, "addresses": addresses}
    route53.change_resource_record_sets(
        HostedZoneId=ZONE_ID,
        ChangeBatch={
            "Comment": f"scheduler of {GROUP}",
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": RECORD,
                        "Type": "A",
                        "TTL": TTL,
                        "ResourceRecords": [{"Value": a} for a in addresses],
                    },
                }
            ],
        },
    )
    print(f"{RECORD} -> {', '.join(addresses)}")
    return {"changed": True, "addresses": addresses}
