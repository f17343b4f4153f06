"""VehicleControlAPI: a car's engine, doors, brakes, climate, lights and navigation, as in BFCL v3.

Random readings (outside temperature, current speed) come from a seeded generator.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from evalkit.benchmarks.bfcl.multi_turn.long_context import fresh, long_context_data

MAX_FUEL = 50
MIN_FUEL = 0.0
MILES_PER_GALLON = 20.0

_DEFAULTS: dict[str, object] = {
    "random_seed": 141053,
    "fuelLevel": 0.0,
    "batteryVoltage": 12.6,
    "engine_state": "stopped",
    "doorStatus": {
        "driver": "unlocked",
        "passenger": "unlocked",
        "rear_left": "unlocked",
        "rear_right": "unlocked",
    },
    "acTemperature": 25.0,
    "fanSpeed": 50,
    "acMode": "auto",
    "humidityLevel": 50.0,
    "headLightStatus": "off",
    "parkingBrakeStatus": "released",
    "parkingBrakeForce": 0.0,
    "slopeAngle": 0.0,
    "brakePedalStatus": "released",
    "brakePedalForce": 0.0,
    "distanceToNextVehicle": 50.0,
    "cruiseStatus": "inactive",
    "destination": "None",
    "frontLeftTirePressure": 32.0,
    "frontRightTirePressure": 32.0,
    "rearLeftTirePressure": 30.0,
    "rearRightTirePressure": 30.0,
}
# Distances between zip codes (either direction).
_DISTANCES = [
    ("83214", "74532", 750.0),
    ("56108", "62947", 320.0),
    ("71354", "83462", 450.0),
    ("47329", "52013", 290.0),
    ("69238", "51479", 630.0),
    ("94016", "83214", 980.0),
    ("94016", "94704", 600.0),
    ("94704", "08540", 2550.0),
    ("94016", "08540", 1950.0),
    ("62947", "47329", 1053.0),
    ("94016", "62947", 780.0),
    ("74532", "94016", 880.0),
]
_ZIPCODES = {
    "Rivermist": "83214",
    "Stonebrook": "74532",
    "Maplecrest": "56108",
    "Silverpine": "62947",
    "Shadowridge": "71354",
    "Sunset Valley": "83462",
    "Oakendale": "47329",
    "Willowbend": "52013",
    "Crescent Hollow": "69238",
    "Autumnville": "51479",
    "San Francisco": "94016",
}


class VehicleControlAPI:
    def __init__(self) -> None:
        self._load_scenario({})

    def _load_scenario(self, scenario: dict[str, object], long_context: bool = False) -> None:
        d = copy.deepcopy(_DEFAULTS)

        def get(key: str, default_key: str | None = None) -> Any:
            return scenario.get(key, d[default_key or key])

        self._random = random.Random(get("random_seed"))
        self.fuelLevel = get("fuelLevel")
        self.batteryVoltage = get("batteryVoltage")
        self.engine_state = scenario.get("engineState", d["engine_state"])
        self.doorStatus = get("doorStatus")
        self.remainingUnlockedDoors = 4 - sum(1 for s in self.doorStatus.values() if s == "locked")
        self.acTemperature = get("acTemperature")
        self.fanSpeed = get("fanSpeed")
        self.acMode = get("acMode")
        self.humidityLevel = get("humidityLevel")
        self.headLightStatus = get("headLightStatus")
        self.parkingBrakeStatus = get("parkingBrakeStatus")
        self._parkingBrakeForce = get("parkingBrakeForce")
        self._slopeAngle = get("slopeAngle")
        self.brakePedalStatus = get("brakePedalStatus")
        self._brakePedalForce = get("brakePedalForce")
        self.distanceToNextVehicle = get("distanceToNextVehicle")
        self.cruiseStatus = get("cruiseStatus")
        self.destination = get("destination")
        self.frontLeftTirePressure = get("frontLeftTirePressure")
        self.frontRightTirePressure = get("frontRightTirePressure")
        self.rearLeftTirePressure = get("rearLeftTirePressure")
        self.rearRightTirePressure = get("rearRightTirePressure")
        self.long_context = long_context

    def startEngine(self, ignitionMode: str) -> dict[str, object]:
        if ignitionMode == "STOP":
            self.engine_state = "stopped"
        if self.remainingUnlockedDoors > 0:
            unlocked = ", ".join(door for door, s in self.doorStatus.items() if s == "unlocked")
            return {
                "error": "All doors must be locked before starting the engine. Here are the unlocked doors: "
                + unlocked
            }
        if self.brakePedalStatus != "pressed":
            return {"error": "Brake pedal needs to be pressed when starting the engine."}
        if self._brakePedalForce != 1000.0:
            return {"error": "Must press the brake fully before starting the engine."}
        if self.fuelLevel < MIN_FUEL:
            return {"error": "Fuel tank is empty."}
        if ignitionMode != "START":
            return {"error": "Invalid ignition mode."}
        self.engine_state = "running"
        return {
            "engineState": self.engine_state,
            "fuelLevel": self.fuelLevel,
            "batteryVoltage": self.batteryVoltage,
        }

    def fillFuelTank(self, fuelAmount: float) -> dict[str, object]:
        if fuelAmount < 0:
            return {"error": "Fuel amount cannot be negative."}
        if self.fuelLevel + fuelAmount > MAX_FUEL:
            return {"error": "Cannot fill gas above the tank capacity."}
        if self.fuelLevel + fuelAmount < MIN_FUEL:
            return {"error": "Fuel tank is empty. Min fuel level is 0 gallons."}
        self.fuelLevel += fuelAmount
        return {"fuelLevel": self.fuelLevel}

    def lockDoors(self, unlock: bool, door: list[str]) -> dict[str, object]:
        want = "unlocked" if unlock else "locked"
        for d in door:
            if self.doorStatus[d] == want:  # an unknown door raises KeyError, as in BFCL
                continue
            self.doorStatus[d] = want
            self.remainingUnlockedDoors += 1 if unlock else -1
        return {"lockStatus": want, "remainingUnlockedDoors": self.remainingUnlockedDoors}

    def adjustClimateControl(
        self, temperature: float, unit: str = "celsius", fanSpeed: int = 50, mode: str = "auto"
    ) -> dict[str, object]:
        if not 0 <= fanSpeed <= 100:
            return {"error": "Fan speed must be between 0 and 100."}
        # The temperature is stored before the conversion, which may then fail (a string
        # temperature in fahrenheit): the failed call has still changed the state.
        self.acTemperature = temperature
        if unit == "fahrenheit":
            self.acTemperature = (temperature - 32) * 5 / 9
        self.fanSpeed = fanSpeed
        self.acMode = mode
        return {"currentACTemperature": temperature, "climateMode": mode, "humidityLevel": self.humidityLevel}

    def get_outside_temperature_from_google(self) -> dict[str, object]:
        if self.long_context:
            weather: dict[str, object] = fresh("LONG_WEATHER_EXTENSION")
            weather["outsideTemperature"] = self._random.uniform(-10.0, 40.0)
            return weather
        return {"outsideTemperature": self._random.uniform(-10.0, 40.0)}

    def get_outside_temperature_from_weather_com(self) -> dict[str, object]:
        return {"error": 404}

    def setHeadlights(self, mode: str) -> dict[str, str]:
        if mode not in ("on", "off", "auto"):
            return {"error": "Invalid headlight mode."}
        self.headLightStatus = "on" if mode == "on" else "off"
        return {"headlightStatus": self.headLightStatus}

    def displayCarStatus(self, option: str) -> dict[str, object]:
        status: dict[str, object] = {}
        if self.long_context:
            status["metadata"] = long_context_data()["CAR_STATUS_METADATA_EXTENSION"]
        views: dict[str, dict[str, object]] = {
            "fuel": {"fuelLevel": self.fuelLevel},
            "battery": {"batteryVoltage": self.batteryVoltage},
            "doors": {"doorStatus": self.doorStatus},
            "climate": {
                "currentACTemperature": self.acTemperature,
                "fanSpeed": self.fanSpeed,
                "climateMode": self.acMode,
                "humidityLevel": self.humidityLevel,
            },
            "headlights": {"headlightStatus": self.headLightStatus},
            "parkingBrake": {
                "parkingBrakeStatus": self.parkingBrakeStatus,
                "parkingBrakeForce": self._parkingBrakeForce,
                "slopeAngle": self._slopeAngle,
            },
            "brakePedal": {
                "brakePedalStatus": self.brakePedalStatus,
                "brakePedalForce": self._brakePedalForce,
            },
            "engine": {"engineState": self.engine_state},
        }
        # Compared, not looked up (BFCL's chain of ==): a list or an object is an invalid option.
        status.update(next((v for k, v in views.items() if option == k), {"error": "Invalid option"}))
        return status

    def activateParkingBrake(self, mode: str) -> dict[str, object]:
        if mode not in ("engage", "release"):
            return {"error": "Invalid mode"}
        engage = mode == "engage"
        self.parkingBrakeStatus = "engaged" if engage else "released"
        self._parkingBrakeForce = 500.0 if engage else 0.0
        self._slopeAngle = 10.0
        out: dict[str, object] = {}
        if self.long_context:
            out["parkingBrakeInstruction"] = long_context_data()["PARKING_BRAKE_INSTRUCTION"]
        out.update(
            {
                "parkingBrakeStatus": self.parkingBrakeStatus,
                "_parkingBrakeForce": self._parkingBrakeForce,
                "_slopeAngle": 10.0,
            }
        )
        return out

    def pressBrakePedal(self, pedalPosition: float) -> dict[str, object]:
        if not 0 <= pedalPosition <= 1:
            return {"error": "Pedal position must be between 0 and 1."}
        if pedalPosition == 0:
            return self.releaseBrakePedal()
        force = pedalPosition * 1000
        self.brakePedalStatus = "pressed"
        self._brakePedalForce = force
        return {"brakePedalStatus": "pressed", "brakePedalForce": float(force)}

    def releaseBrakePedal(self) -> dict[str, object]:
        self.brakePedalStatus = "released"
        self._brakePedalForce = 0.0
        return {"brakePedalStatus": "released", "brakePedalForce": 0.0}

    def setCruiseControl(
        self, speed: float, activate: bool, distanceToNextVehicle: float
    ) -> dict[str, object]:
        # As at cd9429c: both numbers become floats first (so 60 is reported as 60.0, and a
        # string that is no number fails before anything else).
        distanceToNextVehicle = float(distanceToNextVehicle)
        speed = float(speed)
        if self.engine_state == "stopped":
            return {"error": "Start the engine before activating the cruise control."}
        self.distanceToNextVehicle = distanceToNextVehicle
        if activate:
            if speed < 0 or speed > 120 or speed % 5 != 0:
                return {"error": "Invalid speed"}
            self.cruiseStatus = "active"
        else:
            self.cruiseStatus = "inactive"
        return {
            "cruiseStatus": self.cruiseStatus,
            "currentSpeed": speed,
            "distanceToNextVehicle": distanceToNextVehicle,
        }

    def get_current_speed(self) -> dict[str, float]:
        return {"currentSpeed": self._random.uniform(0.0, 120.0)}

    def display_log(self, messages: list[str]) -> dict[str, object]:
        return {"log": messages}

    def estimate_drive_feasibility_by_mileage(self, distance: float) -> dict[str, bool]:
        return {"canDrive": not self.fuelLevel * MILES_PER_GALLON < distance}

    def liter_to_gallon(self, liter: float) -> dict[str, float]:
        return {"gallon": liter * 0.264172}

    def gallon_to_liter(self, gallon: float) -> dict[str, float]:
        return {"liter": gallon * 3.78541}

    def estimate_distance(self, cityA: str, cityB: str) -> dict[str, object]:
        # Compared, not hashed: any argument type gets an answer, as in BFCL.
        d = next((km for a, b, km in _DISTANCES if (cityA, cityB) in ((a, b), (b, a))), None)
        out: dict[str, object] = (
            {"distance": d} if d is not None else {"error": "distance not found in database."}
        )
        if self.long_context:
            out["intermediaryCities"] = long_context_data()["INTERMEDIARY_CITIES"]
        return out

    def get_zipcode_based_on_city(self, city: str) -> dict[str, str]:
        # Compared, not looked up (BFCL's chain of ==): a list or an object is just unknown.
        return {"zipcode": next((z for c, z in _ZIPCODES.items() if city == c), "00000")}

    def set_navigation(self, destination: str) -> dict[str, str]:
        self.destination = destination
        return {"status": "Navigating to " + destination}

    def check_tire_pressure(self) -> dict[str, object]:
        pressures = {
            "frontLeftTirePressure": self.frontLeftTirePressure,
            "frontRightTirePressure": self.frontRightTirePressure,
            "rearLeftTirePressure": self.rearLeftTirePressure,
            "rearRightTirePressure": self.rearRightTirePressure,
        }
        healthy = 30 <= sum(pressures.values()) / 4 <= 35
        info: Any = long_context_data()["CAR_STATUS_METADATA_EXTENSION"] if self.long_context else {}
        return {**pressures, "healthy_tire_pressure": healthy, "car_info": info}

    def find_nearest_tire_shop(self) -> dict[str, str]:
        return {"shopLocation": "456 Oakwood Avenue, Rivermist, 83214"}
