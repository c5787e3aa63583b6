"""Result types for mutations: expected outcomes are union members, never bare errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from api.graphql.types import (
    ChargingSessionType,
    InvoiceSettings,
    Me,
    PaymentMethodType,
    RfidTag,
    VehicleType,
)


@strawberry.interface
class Problem:
    message: str


@strawberry.type
class ChargerOffline(Problem):
    pass


@strawberry.type
class ConnectorUnavailable(Problem):
    pass


@strawberry.type
class PaymentMethodRequired(Problem):
    pass


@strawberry.type
class NotAllowed(Problem):
    pass


@strawberry.type
class NotYourSession(Problem):
    pass


@strawberry.type
class SessionNotActive(Problem):
    pass


@strawberry.type
class InvalidInput(Problem):
    field: str | None


@strawberry.type
class NotFound(Problem):
    pass


@strawberry.type
class RfidTagTaken(Problem):
    pass


@strawberry.type
class RateLimited(Problem):
    pass


@strawberry.type
class InvalidCode(Problem):
    pass


@strawberry.type
class CodeExpired(Problem):
    pass


@strawberry.type
class InvalidToken(Problem):
    pass


@strawberry.type
class ChargingStarted:
    """The charger accepted the start. The session exists already (state STARTING): follow
    it with `sessionUpdates(sessionId)`; it turns ACTIVE when the charger reports charging,
    or FAILED (with `statusReason`) if it never does."""

    message: str
    session_id: strawberry.ID
    session: ChargingSessionType
    connector_id: strawberry.ID
    charger_code: str
    evse_id: int
    transaction_id: str | None


@strawberry.type
class PaymentPending:
    """Approve the payment (e.g. in Vipps) first; charging starts when it is approved."""

    message: str
    redirect_url: str
    status_url: str
    session_id: strawberry.ID = strawberry.field(
        description="The STARTING session that begins once the payment is approved."
    )


@strawberry.type
class CardSetupStarted:
    """Confirm the card in the app with this SetupIntent secret, then call saveCard."""

    client_secret: str
    customer_ref: str


@strawberry.type
class PaymentMethodSaved:
    payment_method: PaymentMethodType


@strawberry.type
class PaymentMethodRemoved:
    id: strawberry.ID


@strawberry.type
class ChargingStopping:
    message: str
    session: ChargingSessionType


@strawberry.type
class SignInCodeSent:
    phone: str
    expires_in_seconds: int


@strawberry.type
class SignedIn:
    access_token: str
    refresh_token: str
    access_token_expires_at: datetime
    new_user: bool
    me: Me


@strawberry.type
class SignedOut:
    message: str


@strawberry.type
class ProfileUpdated:
    me: Me


@strawberry.type
class InvoiceSettingsUpdated:
    invoice_settings: InvoiceSettings


@strawberry.type
class RfidTagRegistered:
    tag: RfidTag


@strawberry.type
class RfidTagRemoved:
    id: strawberry.ID


@strawberry.type
class VehicleSaved:
    vehicle: VehicleType


@strawberry.type
class VehicleRemoved:
    id: strawberry.ID


StartChargingResult = Annotated[
    ChargingStarted
    | PaymentPending
    | ChargerOffline
    | ConnectorUnavailable
    | PaymentMethodRequired
    | NotAllowed,
    strawberry.union("StartChargingResult"),
]
StopChargingResult = Annotated[
    ChargingStopping | NotYourSession | SessionNotActive | ChargerOffline,
    strawberry.union("StopChargingResult"),
]
RequestSignInCodeResult = Annotated[
    SignInCodeSent | RateLimited | InvalidInput, strawberry.union("RequestSignInCodeResult")
]
SignInResult = Annotated[
    SignedIn | InvalidCode | CodeExpired | RateLimited | InvalidInput,
    strawberry.union("SignInResult"),
]
RefreshResult = Annotated[SignedIn | InvalidToken, strawberry.union("RefreshSessionResult")]
UpdateProfileResult = Annotated[
    ProfileUpdated | InvalidInput, strawberry.union("UpdateProfileResult")
]
UpdateInvoiceSettingsResult = Annotated[
    InvoiceSettingsUpdated | InvalidInput, strawberry.union("UpdateInvoiceSettingsResult")
]
RegisterRfidTagResult = Annotated[
    RfidTagRegistered | RfidTagTaken | InvalidInput, strawberry.union("RegisterRfidTagResult")
]
RemoveRfidTagResult = Annotated[RfidTagRemoved | NotFound, strawberry.union("RemoveRfidTagResult")]
SaveVehicleResult = Annotated[
    VehicleSaved | InvalidInput | NotFound, strawberry.union("SaveVehicleResult")
]
RemoveVehicleResult = Annotated[VehicleRemoved | NotFound, strawberry.union("RemoveVehicleResult")]
AddCardResult = Annotated[CardSetupStarted | NotAllowed, strawberry.union("AddCardResult")]
SavePaymentMethodResult = Annotated[
    PaymentMethodSaved | InvalidInput | NotAllowed, strawberry.union("SavePaymentMethodResult")
]
RemovePaymentMethodResult = Annotated[
    PaymentMethodRemoved | NotFound, strawberry.union("RemovePaymentMethodResult")
]
