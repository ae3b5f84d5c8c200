"""Knowledge bases get a visibility: the demo help centre public, every other one internal."""

from django.db import migrations, models

# The name `manage.py load_demo` gives the demo knowledge base (frozen here, as migrations are).
DEMO_KB = "Lumen & Oak Help Centre"


def demo_public(apps, schema_editor):
    KnowledgeBase = apps.get_model("knowledge", "KnowledgeBase")
    KnowledgeBase.objects.filter(name=DEMO_KB).update(visibility="public")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0003_import_jobs")]

    operations = [
        migrations.AddField(
            model_name="knowledgebase",
            name="visibility",
            field=models.CharField(
                choices=[("public", "Public"), ("internal", "Internal")],
                default="internal",
                max_length=16,
            ),
        ),
        migrations.RunPython(demo_public, migrations.RunPython.noop),
    ]
