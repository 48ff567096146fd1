"""Commands sent to devices, in DynamoDB. A response is recorded by one conditional update that
holds only while the command is still waiting and its deadline has not passed, so a late,
duplicate or foreign response changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from idnode.domain.commands import Command, CommandResponse, CommandStatus
from idnode.domain.errors import InvalidStateError
from idnode.store.device_models import BY_DEVICE, CommandModel
from idnode.store.listings import querying, read_page, start_key
from idnode.store.pages import Page

_CONDITION_FAILED = "ConditionalCheckFailedException"
_DEVICE_KEY = {"command": "S", "device": "S", "sent_at": "N"}


class CommandRepository:
    def __init__(self, model: type[CommandModel]) -> None:
        self._model = model

    def create(self, command: Command, *, expires: int) -> None:
        """Record a command about to be sent; `expires` in epoch seconds."""
        item = self._model(
            command.id,
            device=command.device,
            enterprise=command.enterprise,
            name=command.name,
            parameters=dict(command.parameters),
            status=command.status.value,
            sent_at=command.sent_at,
            deadline=command.deadline,
            sent_by=command.sent_by,
            responded_at=command.responded_at,
            result=None if command.result is None else dict(command.result),
            error=command.error,
            expires=datetime.fromtimestamp(expires, tz=UTC),
        )
        try:
            item.save(condition=self._model.command.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                raise InvalidStateError(f"command {command.id} exists already") from None
            raise

    def get(self, command_id: str) -> Command | None:
        try:
            item = self._model.get(command_id, consistent_read=True)
        except DoesNotExist:
            return None
        return _command(item)

    def respond(self, command_id: str, response: CommandResponse, at: int) -> bool:
        """Record the device's response received at `at`; False when the command is unknown,
        answered already, or past its deadline."""
        model = self._model
        actions: list[Action] = [
            model.status.set(response.status.value),
            model.responded_at.set(at),
        ]
        if response.result is not None:
            actions.append(model.result.set(dict(response.result)))
        if response.error is not None:
            actions.append(model.error.set(response.error))
        condition = (model.status == CommandStatus.SENT.value) & (model.deadline >= at)
        try:
            model(command_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            if exc.cause_response_code == _CONDITION_FAILED:
                return False
            raise
        return True

    def list(self, device: str, *, first: int, cursor: str | None) -> Page[Command]:
        """The commands sent to a device, newest first."""
        model = self._model
        scope = f"commands:{device}"

        return read_page(
            querying(model, device, index=BY_DEVICE, newest_first=True),
            lambda raw: _command(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start_key(scope, cursor, _DEVICE_KEY, {"device": device}),
            shape=_DEVICE_KEY,
            filtered=False,
        )


def _command(item: CommandModel) -> Command:
    return Command(
        id=item.command,
        device=item.device,
        enterprise=item.enterprise,
        name=item.name,
        parameters=item.parameters or {},
        status=CommandStatus(item.status),
        sent_at=int(item.sent_at),
        deadline=int(item.deadline),
        sent_by=item.sent_by,
        responded_at=None if item.responded_at is None else int(item.responded_at),
        result=item.result,
        error=item.error,
    )
