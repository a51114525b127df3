# deskpilot: `make run` sets up and starts the app; `make test` sets up and runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch (a local wheel on our machines); override for a CUDA build: make TORCH_SPEC=torch
TORCH_SPEC ?= torch==2.13.0
# The real OpenAI-compatible server test needs `transformers serve` with torchvision, in its own venv
# (.venv-serve, ~5.7 GB: torch 2.14.1 + torchvision 0.29.1). SERVE_TEST=0 skips making it (the test skips).
SERVE_TEST ?= 1

# Debian/Ubuntu packages: X libraries Qt's xcb plugin needs, Xvfb/Xorg-dummy for tests, fonts (CJK too), GStreamer's
# PipeWire source (GNOME on Wayland: screenshots through Mutter's screen cast, sandbox/desktops/pipewire_frame.py).
SYSTEM_PACKAGES := xvfb xauth xdotool x11-xserver-utils x11-xkb-utils xclip scrot \
	xserver-xorg-core xserver-xorg-video-dummy xserver-xephyr \
	libxcb-icccm4 libxcb-keysyms1 libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 \
	libxcb-cursor0 libxcb-shape0 libxkbcommon-x11-0 libgl1 libegl1 libfontconfig1 libdbus-1-3 \
	fonts-dejavu-core fonts-noto-cjk chromium zenity gstreamer1.0-pipewire gstreamer1.0-tools
# What only the tests need besides: the apps typing is tested on (xterm, a GTK3 entry run by the system python3
# with PyGObject, Tk), openbox as a window manager, setxkbmap for another layout (tests/test_typing_reaches_apps.py);
# a private D-Bus session and the accessibility bus (tests/test_atspi.py); headless Wayland compositors with grim
# and wtype (tests/test_wayland.py: Sway for the wlroots route, Weston for the refusal); a headless Mutter with
# PipeWire and WirePlumber for the GNOME route and python3-dbusmock (run by the system python3) faking the desktop
# portal (tests/test_gnome_routes.py).
TEST_PACKAGES := xterm openbox python3-gi gir1.2-gtk-3.0 python3-tk dbus at-spi2-core \
	sway weston grim wtype mutter pipewire wireplumber python3-dbusmock

.PHONY: run test lint system system-test apt-install venv venv-test serve-venv bench screenshot report-picture clean

run: system venv
	$(BIN)/deskpilot gui --practice

# the project's bytecode written first: where PYTHONDONTWRITEBYTECODE is set (as on our build machine) every `deskpilot`
# process the tests start would compile the editable install's modules again (`deskpilot act`: 1.54 s -> 1.19 s)
test: system system-test venv-test serve-venv lint
	$(BIN)/python -m compileall -q app agent sandbox
	$(BIN)/python -m pytest -q --durations=25

# ruff: lint, and the formatting every file keeps (`.venv/bin/ruff format .` fixes it)
lint: venv-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: system venv-test
	$(BIN)/deskpilot bench

# the README's pictures of the real window and run panel, taken on a private Xvfb
screenshot: system venv
	xvfb-run -a -s "-screen 0 1920x1080x24 -noreset" $(BIN)/python -m app.gui.snapshot assets

# the README's picture of the HTML report: a demo run recorded without a display, exported, shot in headless Chromium
report-picture: system venv-test
	$(BIN)/python -m tests.helpers.report_picture assets/report.png

system:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(SYSTEM_PACKAGES)"

system-test:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(TEST_PACKAGES)"

apt-install:
	@command -v dpkg-query >/dev/null 2>&1 || { echo "not Debian/Ubuntu: install Xvfb and Qt's X libraries yourself"; exit 0; }; \
	missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(VENV)/.run-installed
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

venv-test: $(VENV)/.test-installed
$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[dev,local]"
	touch $@ $(VENV)/.run-installed

serve-venv: venv-test
	@if [ "$(SERVE_TEST)" = 1 ]; then bash tests/helpers/serve_venv.sh; else echo "SERVE_TEST=0: not making .venv-serve"; fi

clean:
	rm -rf $(VENV) .venv-serve build *.egg-info .pytest_cache .mypy_cache .hypothesis
