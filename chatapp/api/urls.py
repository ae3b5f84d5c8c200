"""REST API routes (JSON) and the health probe."""

from django.urls import path

from chatapp.api import agents, copilot, exports, views
from chatapp.webhooks import api as webhooks

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("api/v1/openapi.json", views.openapi, name="openapi"),
    path("api/v1/conversations", views.conversation_create, name="api-conversations"),
    path("api/v1/conversations/<str:conversation_id>", views.conversation_detail),
    path("api/v1/conversations/<str:conversation_id>/messages", views.conversation_message_create),
    path("api/v1/conversations/<str:conversation_id>/assign", views.conversation_assign),
    path("api/v1/conversations/<str:conversation_id>/release", views.conversation_release),
    path("api/v1/conversations/<str:conversation_id>/close", views.conversation_close),
    path("api/v1/conversations/<str:conversation_id>/notes", views.conversation_note_create),
    path("api/v1/conversations/<str:conversation_id>/copilot", copilot.conversation_copilot),
    path("api/v1/knowledge-bases", views.knowledge_base_collection),
    path("api/v1/knowledge-bases/<int:kb_id>/documents", views.document_collection),
    path("api/v1/knowledge-bases/<int:kb_id>/search", views.knowledge_base_search),
    path("api/v1/knowledge-bases/<int:kb_id>/imports", views.import_collection),
    path("api/v1/knowledge-bases/<int:kb_id>/reindex", views.knowledge_base_reindex),
    path("api/v1/imports/<int:job_id>", views.import_job_detail),
    path("api/v1/knowledge-bases/<int:kb_id>/curated-answers", views.curated_answer_collection),
    path("api/v1/curated-answers/<int:curated_id>", views.curated_answer_detail),
    path("api/v1/documents/<int:document_id>", views.document_detail),
    path("api/v1/documents/<int:document_id>/retry", views.document_retry),
    path("api/v1/agents", agents.agent_list),
    path("api/v1/agents/me/presence", agents.presence_me),
    path("api/v1/agents/me/heartbeat", agents.heartbeat),
    path("api/v1/agents/<int:agent_id>/capacity", agents.agent_capacity),
    path("api/v1/exports/conversations.csv", exports.conversations_csv),
    path("api/v1/exports/turns.csv", exports.turns_csv),
    path("api/v1/webhooks", webhooks.webhook_collection),
    path("api/v1/webhooks/<int:webhook_id>", webhooks.webhook_detail),
    path("api/v1/webhooks/<int:webhook_id>/deliveries", webhooks.webhook_delivery_collection),
    path(
        "api/v1/webhook-deliveries/<int:delivery_id>/redeliver",
        webhooks.webhook_delivery_redeliver,
    ),
]
