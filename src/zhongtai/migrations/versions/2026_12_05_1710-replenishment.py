"""Replenishment: supplier terms, policies, suggestions with reasoning, purchase orders and receipts, allocation and rebalancing.

Revision ID: b2e1d3f6a8c2
Revises: a1f0c2e5d7b1
Create Date: 2026-12-05 17:10:00.000000+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import zhongtai.db

revision: str = "b2e1d3f6a8c2"
down_revision: str | None = "a1f0c2e5d7b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replenishment_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=True),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column(
            "counts", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("message", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("started_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replenishment_runs")),
    )
    op.create_table(
        "purchase_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("supplier_location_id", sa.Integer(), nullable=False),
        sa.Column("dest_location_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("received_fen", sa.BigInteger(), nullable=False),
        sa.Column("expected_date", sa.Date(), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("cancel_reason", sa.String(length=255), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("approved_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("received_fen >= 0", name=op.f("ck_purchase_orders_received_nonneg")),
        sa.CheckConstraint("total_fen >= 0", name=op.f("ck_purchase_orders_total_nonneg")),
        sa.ForeignKeyConstraint(
            ["dest_location_id"], ["locations.id"], name=op.f("fk_purchase_orders_dest_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["replenishment_runs.id"],
            name=op.f("fk_purchase_orders_run_id_replenishment_runs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["supplier_location_id"], ["locations.id"], name=op.f("fk_purchase_orders_supplier_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_orders")),
        sa.UniqueConstraint("number", name=op.f("uq_purchase_orders_number")),
    )
    op.create_index("ix_purchase_orders_dest", "purchase_orders", ["dest_location_id", "id"], unique=False)
    op.create_index(op.f("ix_purchase_orders_run_id"), "purchase_orders", ["run_id"], unique=False)
    op.create_index("ix_purchase_orders_status", "purchase_orders", ["status", "id"], unique=False)
    op.create_index("ix_purchase_orders_supplier", "purchase_orders", ["supplier_location_id", "id"], unique=False)
    op.create_table(
        "po_receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column(
            "movement_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=255), nullable=False),
        sa.Column("received_by", sa.String(length=128), nullable=False),
        sa.Column("received_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["location_id"], ["locations.id"], name=op.f("fk_po_receipts_location_id_locations")),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_po_receipts_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_po_receipts_number")),
    )
    op.create_index(op.f("ix_po_receipts_purchase_order_id"), "po_receipts", ["purchase_order_id"], unique=False)
    op.create_table(
        "purchase_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("received_quantity", sa.Integer(), nullable=False),
        sa.Column("unit_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_purchase_order_lines_qty_pos")),
        sa.CheckConstraint(
            "received_quantity >= 0 AND received_quantity <= quantity",
            name=op.f("ck_purchase_order_lines_received_le_qty"),
        ),
        sa.CheckConstraint("unit_cost_fen >= 0", name=op.f("ck_purchase_order_lines_cost_nonneg")),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_purchase_order_lines_purchase_order_id_purchase_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_purchase_order_lines_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order_lines")),
        sa.UniqueConstraint(
            "purchase_order_id", "line_no", name=op.f("uq_purchase_order_lines_purchase_order_id_line_no")
        ),
        sa.UniqueConstraint(
            "purchase_order_id", "sku_id", name=op.f("uq_purchase_order_lines_purchase_order_id_sku_id")
        ),
    )
    op.create_index("ix_purchase_order_lines_sku", "purchase_order_lines", ["sku_id"], unique=False)
    op.create_table(
        "replenishment_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=48), nullable=False),
        sa.Column("location_type", sa.String(length=16), nullable=True),
        sa.Column("sku_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("review_period_days", sa.Integer(), nullable=False),
        sa.Column("service_level", sa.Numeric(precision=5, scale=4), nullable=False),
        sa.Column("shelf_capacity", sa.Integer(), nullable=True),
        sa.Column("transfer_lead_time_days", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("transfer_lead_time_sd_days", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("auto_approve_max_fen", sa.BigInteger(), nullable=True),
        sa.Column("auto_approve_max_change_pct", sa.Integer(), nullable=True),
        sa.Column("updated_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint(
            "auto_approve_max_change_pct IS NULL OR auto_approve_max_change_pct >= 0",
            name=op.f("ck_replenishment_policies_auto_pct_nonneg"),
        ),
        sa.CheckConstraint(
            "auto_approve_max_fen IS NULL OR auto_approve_max_fen >= 0",
            name=op.f("ck_replenishment_policies_auto_fen_nonneg"),
        ),
        sa.CheckConstraint("review_period_days >= 1", name=op.f("ck_replenishment_policies_review_pos")),
        sa.CheckConstraint(
            "service_level > 0 AND service_level < 1", name=op.f("ck_replenishment_policies_service_level_range")
        ),
        sa.CheckConstraint(
            "shelf_capacity IS NULL OR shelf_capacity >= 0", name=op.f("ck_replenishment_policies_shelf_nonneg")
        ),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_replenishment_policies_location_id_locations")
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_replenishment_policies_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replenishment_policies")),
        sa.UniqueConstraint("scope", name=op.f("uq_replenishment_policies_scope")),
    )
    op.create_index("ix_replenishment_policies_location", "replenishment_policies", ["location_id"], unique=False)
    op.create_table(
        "replenishment_suggestions",
        sa.Column("id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("source_location_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("edited_quantity", sa.Integer(), nullable=True),
        sa.Column("needed_quantity", sa.Integer(), nullable=False),
        sa.Column("demand_over_protection", sa.Float(), nullable=False),
        sa.Column("protection_days", sa.Float(), nullable=False),
        sa.Column("safety_stock", sa.Integer(), nullable=False),
        sa.Column("order_up_to", sa.Integer(), nullable=False),
        sa.Column("on_hand", sa.Integer(), nullable=False),
        sa.Column("on_order", sa.Integer(), nullable=False),
        sa.Column("reserved", sa.Integer(), nullable=False),
        sa.Column("inventory_position", sa.Integer(), nullable=False),
        sa.Column(
            "reasons", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("unit_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("auto_rule", sa.String(length=32), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=False),
        sa.Column("decided_at", zhongtai.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purchase_order_id", sa.Integer(), nullable=True),
        sa.Column("transfer_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "edited_quantity IS NULL OR edited_quantity >= 0", name=op.f("ck_replenishment_suggestions_edited_nonneg")
        ),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_replenishment_suggestions_qty_nonneg")),
        sa.ForeignKeyConstraint(
            ["location_id"], ["locations.id"], name=op.f("fk_replenishment_suggestions_location_id_locations")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_order_id"],
            ["purchase_orders.id"],
            name=op.f("fk_replenishment_suggestions_purchase_order_id_purchase_orders"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["replenishment_runs.id"],
            name=op.f("fk_replenishment_suggestions_run_id_replenishment_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_replenishment_suggestions_sku_id_skus")),
        sa.ForeignKeyConstraint(
            ["source_location_id"],
            ["locations.id"],
            name=op.f("fk_replenishment_suggestions_source_location_id_locations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replenishment_suggestions")),
        sa.UniqueConstraint(
            "run_id",
            "kind",
            "sku_id",
            "location_id",
            "source_location_id",
            name=op.f("uq_replenishment_suggestions_run_id_kind_sku_id_location_id_source_location_id"),
        ),
    )
    op.create_index(
        "ix_replenishment_suggestions_location", "replenishment_suggestions", ["location_id", "status"], unique=False
    )
    op.create_index(
        "ix_replenishment_suggestions_pair", "replenishment_suggestions", ["sku_id", "location_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_replenishment_suggestions_purchase_order_id"),
        "replenishment_suggestions",
        ["purchase_order_id"],
        unique=False,
    )
    op.create_index(op.f("ix_replenishment_suggestions_run_id"), "replenishment_suggestions", ["run_id"], unique=False)
    op.create_index(
        op.f("ix_replenishment_suggestions_source_location_id"),
        "replenishment_suggestions",
        ["source_location_id"],
        unique=False,
    )
    op.create_index("ix_replenishment_suggestions_status", "replenishment_suggestions", ["status", "id"], unique=False)
    op.create_table(
        "supplier_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_location_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("lead_time_sd_days", sa.Numeric(precision=5, scale=1), nullable=False),
        sa.Column("moq", sa.Integer(), nullable=False),
        sa.Column("case_pack", sa.Integer(), nullable=False),
        sa.Column("unit_cost_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("auto_approve", sa.Boolean(), nullable=False),
        sa.Column("updated_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.CheckConstraint("case_pack >= 1", name=op.f("ck_supplier_terms_case_pack_pos")),
        sa.CheckConstraint("lead_time_days > 0", name=op.f("ck_supplier_terms_lead_pos")),
        sa.CheckConstraint("lead_time_sd_days >= 0", name=op.f("ck_supplier_terms_lead_sd_nonneg")),
        sa.CheckConstraint("moq >= 1", name=op.f("ck_supplier_terms_moq_pos")),
        sa.CheckConstraint("unit_cost_fen >= 0", name=op.f("ck_supplier_terms_cost_nonneg")),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_supplier_terms_sku_id_skus")),
        sa.ForeignKeyConstraint(
            ["supplier_location_id"], ["locations.id"], name=op.f("fk_supplier_terms_supplier_location_id_locations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_terms")),
        sa.UniqueConstraint(
            "supplier_location_id", "sku_id", name=op.f("uq_supplier_terms_supplier_location_id_sku_id")
        ),
    )
    op.create_index("ix_supplier_terms_sku", "supplier_terms", ["sku_id"], unique=False)
    op.create_table(
        "po_receipt_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("purchase_order_line_id", sa.Integer(), nullable=False),
        sa.Column("sku_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column(
            "serials", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_po_receipt_lines_qty_pos")),
        sa.ForeignKeyConstraint(
            ["purchase_order_line_id"],
            ["purchase_order_lines.id"],
            name=op.f("fk_po_receipt_lines_purchase_order_line_id_purchase_order_lines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"],
            ["po_receipts.id"],
            name=op.f("fk_po_receipt_lines_receipt_id_po_receipts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["sku_id"], ["skus.id"], name=op.f("fk_po_receipt_lines_sku_id_skus")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_po_receipt_lines")),
    )
    op.create_index(op.f("ix_po_receipt_lines_receipt_id"), "po_receipt_lines", ["receipt_id"], unique=False)
    op.create_table(
        "replenishment_transfer_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transfer_code", sa.String(length=32), nullable=False),
        sa.Column("suggestion_id", sa.BigInteger().with_variant(sa.INTEGER(), "sqlite"), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=255), nullable=False),
        sa.Column(
            "details", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", zhongtai.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["suggestion_id"],
            ["replenishment_suggestions.id"],
            name=op.f("fk_replenishment_transfer_links_suggestion_id_replenishment_suggestions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replenishment_transfer_links")),
        sa.UniqueConstraint("transfer_code", name=op.f("uq_replenishment_transfer_links_transfer_code")),
    )
    op.create_index(
        op.f("ix_replenishment_transfer_links_suggestion_id"),
        "replenishment_transfer_links",
        ["suggestion_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_replenishment_transfer_links_suggestion_id"), table_name="replenishment_transfer_links")
    op.drop_table("replenishment_transfer_links")
    op.drop_index(op.f("ix_po_receipt_lines_receipt_id"), table_name="po_receipt_lines")
    op.drop_table("po_receipt_lines")
    op.drop_index("ix_supplier_terms_sku", table_name="supplier_terms")
    op.drop_table("supplier_terms")
    op.drop_index("ix_replenishment_suggestions_status", table_name="replenishment_suggestions")
    op.drop_index(op.f("ix_replenishment_suggestions_source_location_id"), table_name="replenishment_suggestions")
    op.drop_index(op.f("ix_replenishment_suggestions_run_id"), table_name="replenishment_suggestions")
    op.drop_index(op.f("ix_replenishment_suggestions_purchase_order_id"), table_name="replenishment_suggestions")
    op.drop_index("ix_replenishment_suggestions_pair", table_name="replenishment_suggestions")
    op.drop_index("ix_replenishment_suggestions_location", table_name="replenishment_suggestions")
    op.drop_table("replenishment_suggestions")
    op.drop_index("ix_replenishment_policies_location", table_name="replenishment_policies")
    op.drop_table("replenishment_policies")
    op.drop_index("ix_purchase_order_lines_sku", table_name="purchase_order_lines")
    op.drop_table("purchase_order_lines")
    op.drop_index(op.f("ix_po_receipts_purchase_order_id"), table_name="po_receipts")
    op.drop_table("po_receipts")
    op.drop_index("ix_purchase_orders_supplier", table_name="purchase_orders")
    op.drop_index("ix_purchase_orders_status", table_name="purchase_orders")
    op.drop_index(op.f("ix_purchase_orders_run_id"), table_name="purchase_orders")
    op.drop_index("ix_purchase_orders_dest", table_name="purchase_orders")
    op.drop_table("purchase_orders")
    op.drop_table("replenishment_runs")
