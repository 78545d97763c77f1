"""``StackBudget``: the stack's monthly AWS Budget and the SNS topic its alerts go to.

The budget counts only what carries this stack's cost-allocation tags (all four of
team, cost-center, env and project: they must be activated as cost-allocation tags in
the billing console once per account). It notifies at 80 % and 100 % of actual and of
forecasted spend, and when the forecast passes the model's expected monthly cost, to the SNS
topic only. The same topic receives the GPU alerts of the cost tool's Alertmanager, and the
configured e-mail addresses are the topic's e-mail subscriptions: every alert reaches each
address once (naming the addresses on the budget's notifications as well would send each
budget alert twice).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from ..tags import Tagger

THRESHOLDS = (80, 100)
KINDS = ("ACTUAL", "FORECASTED")


def notification_plan(limit_usd: float, expected_usd: float) -> list[tuple[str, float]]:
    """(notification type, percent of the limit): 80 % and 100 % of actual and forecasted
    spend, and a forecast above the model's expected cost (AWS allows 5 per budget)."""
    plan = [(kind, float(pct)) for kind in KINDS for pct in THRESHOLDS]
    early = round(100 * expected_usd / limit_usd, 1)
    if 0 < early < 80:
        plan.append(("FORECASTED", early))
    return plan


@dataclass(frozen=True)
class StackBudgetArgs:
    stack: str
    limit_usd: float
    #: the model's expected monthly cost: a forecast above it alerts early
    expected_usd: float
    emails: Sequence[str]
    tagger: Tagger


def topic_policy(topic_arn: str, account_id: str) -> str:
    """Let AWS Budgets (from this account only) publish to the topic."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AwsBudgetsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "budgets.amazonaws.com"},
            "Action": "SNS:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }],
    })


def tag_filter(tags: dict[str, str]) -> aws.budgets.BudgetFilterExpressionArgs:
    """All cost-allocation tags must match (AND of one tag expression per key)."""
    return aws.budgets.BudgetFilterExpressionArgs(ands=[
        aws.budgets.BudgetFilterExpressionAndArgs(
            tags=aws.budgets.BudgetFilterExpressionAndTagsArgs(key=key, values=[value], match_options=["EQUALS"]))
        for key, value in sorted(tags.items())
    ])


class StackBudget(pulumi.ComponentResource):
    topic: aws.sns.Topic
    budget: aws.budgets.Budget

    def __init__(self, name: str, args: StackBudgetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpufleet:cost:StackBudget", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tag = args.tagger
        self.topic = aws.sns.Topic(f"{name}-alerts", name=f"gpufleet-{args.stack}-cost-alerts",
                                   tags=tag(f"gpufleet-{args.stack}-cost-alerts"), opts=child)
        # the topic's own ARN names the account (arn:aws:sns:<region>:<account>:<name>)
        aws.sns.TopicPolicy(f"{name}-alerts-policy", arn=self.topic.arn,
                            policy=self.topic.arn.apply(lambda arn: topic_policy(arn, arn.split(":")[4])),
                            opts=child)
        for i, email in enumerate(args.emails):
            aws.sns.TopicSubscription(f"{name}-alerts-{_slug(email)}", topic=self.topic.arn, protocol="email",
                                      endpoint=email, opts=child)
        self.budget = aws.budgets.Budget(
            f"{name}-monthly",
            name=f"gpufleet-{args.stack}-monthly",
            budget_type="COST",
            limit_amount=f"{args.limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            filter_expression=tag_filter(tag.cost.as_tags()),
            notifications=[
                aws.budgets.BudgetNotificationArgs(
                    comparison_operator="GREATER_THAN",
                    threshold=pct,
                    threshold_type="PERCENTAGE",
                    notification_type=kind,
                    # e-mail goes through the topic's subscriptions only (see the module doc)
                    subscriber_sns_topic_arns=[self.topic.arn],
                )
                for kind, pct in notification_plan(args.limit_usd, args.expected_usd)
            ],
            tags=tag(f"gpufleet-{args.stack}-monthly"),
            opts=child,
        )
        self.register_outputs({"topic_arn": self.topic.arn, "budget": self.budget.name})


def _slug(email: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in email.lower()).strip("-")
