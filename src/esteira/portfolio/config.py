"""Settings of the portfolio (carteira) distribution."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PortfolioSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit_clients: int = Field(1473, ge=1, description="ConfigDistribuicao.limite_clientes")
    seed: int = 42
