"""``python -m scaler.worker.agent '<WorkerOptions as JSON>'``: how managers and combos start a worker."""

from scaler.worker.agent.agent import main

if __name__ == "__main__":
    main()
