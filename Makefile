# The two set-up commands of the README:
#   make demo   install (CPU) and run the embedded default study offline
#   make test   install (CPU, test extras, SLURM for the cluster test) and run every test
PYTHON ?= python3

.PHONY: install demo test lint envs

install:
	$(PYTHON) -m pip install -e ".[test]"

demo: install
	snakemake --cores 2

test: install
	bash .ci/install_system_deps.sh
	$(PYTHON) -m pytest -ra

lint:
	ruff check . && ruff format --check .
	snakefmt --check Snakefile workflow/rules
	snakemake --lint
	$(PYTHON) -m nerbench envs --check

# envs/*.yaml (conda, for --sdm conda) from pyproject.toml's pins and [tool.nerbench.envs]
envs:
	$(PYTHON) -m nerbench envs
