"""One running turn per conversation.

Before this constraint, quick messages started concurrent runs in one conversation; any such
conversation still running several at deploy time keeps its newest run (it answers the latest
message) and the older ones are marked superseded, so the constraint can be added.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery
from django.db.models.functions import Now


def supersede_concurrent_runs(apps, schema_editor):
    PipelineRun = apps.get_model("assistant", "PipelineRun")
    newest = (
        PipelineRun.objects.filter(status="running", conversation_id=OuterRef("conversation_id"))
        .order_by("-id")
        .values("id")[:1]
    )
    PipelineRun.objects.filter(status="running").exclude(pk=Subquery(newest)).update(
        status="superseded", reason="concurrent_turn", finished_at=Now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("assistant", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(supersede_concurrent_runs, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="pipelinerun",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "running")),
                fields=("conversation",),
                name="pipeline_run_one_running_per_conversation",
            ),
        ),
    ]
