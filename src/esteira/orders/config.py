"""Settings of the e-commerce orders system (a section of esteira.settings.Settings).

Every rule value of issue 16 is written once here: the vocabularies of statuses and
channels with their aliases, the column aliases real exports use, the time zone of naive
order times, the decimal style, each validation rule's action, the topics (orders and
dead letters), the PostgreSQL tables and the API extractor's knobs. The rejected-share
alert threshold is the platform's (`alerts.max_rejected_share`, or `alerts.rejected_share`
keyed `orders` / `orders.consume.orders`): one value serves the per-batch alert line and
the run's webhook alert. The API bearer token and the PostgreSQL password come only from the
environment (ESTEIRA_ORDERS__API_TOKEN, ESTEIRA_POSTGRES__PASSWORD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

Action = Literal["warn", "drop", "fail"]

# canonical value -> aliases (compared case-insensitively, accents ignored)
STATUSES = {
    "Pendente": ["pendente", "pending", "aguardando pagamento", "aguardando", "novo", "new"],
    "Pago": ["pago", "paid", "aprovado", "approved", "confirmado"],
    "Cancelado": ["cancelado", "cancelled", "canceled", "cancelada"],
    "Reembolsado": ["reembolsado", "refunded", "estornado", "devolvido"],
}
CHANNELS = {
    "Site": ["site", "web", "website", "ecommerce", "e-commerce", "loja virtual", "online"],
    "App": ["app", "aplicativo", "mobile", "android", "ios"],
    "Marketplace": ["marketplace", "mktplace", "market place", "parceiro"],
    "Loja": ["loja", "loja fisica", "store", "pdv", "balcao"],
}
# canonical column -> names exports use (case, accents, spaces and dashes ignored)
COLUMNS = {
    "pedido_id": ["pedido_id", "id_pedido", "pedido", "order_id", "id", "numero_pedido"],
    "data_pedido": ["data_pedido", "data", "dt_pedido", "order_date", "data_hora", "created_at"],
    "cliente_id": ["cliente_id", "id_cliente", "cliente", "customer_id"],
    "produto_id": ["produto_id", "id_produto", "produto", "product_id", "sku"],
    "categoria": ["categoria", "category", "categoria_produto"],
    "qtde": ["qtde", "quantidade", "qtd", "qty", "quantity"],
    "preco_unitario": ["preco_unitario", "preco", "valor_unitario", "unit_price", "price"],
    "valor_total": ["valor_total", "total", "valor", "total_price", "amount"],
    "uf": ["uf", "estado", "state"],
    "cidade": ["cidade", "municipio", "city"],
    "canal_venda": ["canal_venda", "canal", "channel", "sales_channel", "origem"],
    "status_pedido": ["status_pedido", "status", "situacao", "order_status"],
    "atualizado_em": ["atualizado_em", "updated_at", "data_atualizacao", "dt_atualizacao"],
}
RULE_ACTIONS: dict[str, Action] = {
    "mensagem_legivel": "drop",  # the Kafka value is a JSON object
    "campos_obrigatorios": "drop",  # pedido_id, data_pedido, qtde, preços, status present
    "tipos": "drop",  # numbers and dates parse
    "status_conhecido": "drop",
    "qtde_positiva": "drop",
    "preco_nao_negativo": "drop",
    "valor_total_confere": "drop",  # = qtde x preco_unitario within one centavo
    "data_nao_futura": "drop",  # not after the moment Kafka stored the message
    "canal_conhecido": "warn",
    "cidade_conhecida_na_uf": "warn",
}


class OrdersSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    topic: str = "pedidos_ecommerce"
    dlq_topic: str = Field("pedidos_ecommerce.dlq", description="dead letters (Connect-style)")
    partitions: int = Field(3, ge=1, description="one order's events share a partition (key)")
    timezone: str = Field("America/Sao_Paulo", description="zone of naive order times")
    decimal: Literal["dot", "comma"] = Field(
        "dot", description="decimal mark of exported prices: dot 1234.5, comma 1.234,5")
    statuses: dict[str, list[str]] = Field(default_factory=lambda: dict(STATUSES))
    channels: dict[str, list[str]] = Field(default_factory=lambda: dict(CHANNELS))
    columns: dict[str, list[str]] = Field(default_factory=lambda: dict(COLUMNS))
    rules: dict[str, Action] = Field(default_factory=lambda: dict(RULE_ACTIONS))
    future_tolerance_seconds: int = Field(
        300, ge=0, description="clock skew allowed before a data_pedido counts as future")
    pg_schema: str = Field("public", description="PostgreSQL schema of the orders tables")
    table: str = "pedidos"
    rejects_table: str = "pedidos_rejeitados"
    batches_table: str = Field("pedidos_lotes", description="committed micro-batch markers")
    root: Path | None = Field(None, description="checkpoint and extractor state; "
                              "default <home>/orders")
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    trigger_seconds: float = Field(1.0, ge=0, description="micro-batch interval; 0 = back "
                                   "to back")
    max_offsets_per_trigger: int | None = Field(
        200_000, ge=1, description="cap on records per micro-batch: large, since each "
        "batch costs about a second whatever its size (planning, markers, commit)")
    min_read_tasks: int | None = Field(
        None, ge=1, description="Spark tasks reading one micro-batch from Kafka; default: "
        "topic partitions x local cores, so every core gets an equal share")
    api_token: SecretStr | None = Field(None, description="bearer token; environment only")
    api_page_size: int = Field(100, ge=1, le=10_000)
    api_timeout_seconds: float = Field(30, gt=0)
    api_max_attempts: int = Field(6, ge=1, description="tries per page on 429/5xx")
    api_max_wait_seconds: float = Field(60, gt=0, description="cap on one back-off wait")

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, given: dict[str, Action]) -> dict[str, Action]:
        """A partial map changes those rules' actions; the others keep their default."""
        unknown = sorted(set(given) - set(RULE_ACTIONS))
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: "
                             f"{', '.join(RULE_ACTIONS)}")
        return {**RULE_ACTIONS, **given}

    def folder(self, home: Path) -> Path:
        return self.root if self.root is not None else home / "orders"

    def qualified(self, table: str) -> str:
        return f"{self.pg_schema}.{table}"
