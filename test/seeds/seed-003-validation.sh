#!/bin/bash
# Seed 003's validation script (the Kubernetes runner's deployment document, section 7.3), steps 5 to 10 as written there; only
# its kubectl steps (1-4) and the port-forward cleanup are left out. The test points http://localhost:8000 at a
# runbox server before running it.
set -e

echo "=== Code Runner Service Validation ==="
echo

# Test health
echo "5. Testing health endpoint..."
HEALTH_RESPONSE=$(curl -s http://localhost:8000/health)
if echo "$HEALTH_RESPONSE" | grep -q "healthy"; then
  echo "✓ Health check passed"
  echo "$HEALTH_RESPONSE"
else
  echo "✗ Health check failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

# Test readiness
echo "6. Testing readiness endpoint..."
READY_RESPONSE=$(curl -s http://localhost:8000/ready)
if echo "$READY_RESPONSE" | grep -q "ready"; then
  echo "✓ Readiness check passed"
  echo "$READY_RESPONSE"
else
  echo "✗ Readiness check failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

# Test simple code execution
echo "7. Testing code execution - simple print..."
EXEC_RESPONSE=$(curl -s -X POST http://localhost:8000/run \
  -H "Content-Type: application/json" \
  -d '{"code":"print(\"Test\")","timeout":5}')
if echo "$EXEC_RESPONSE" | grep -q "Test"; then
  echo "✓ Simple execution passed"
  echo "$EXEC_RESPONSE"
else
  echo "✗ Simple execution failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

# Test calculation
echo "8. Testing code execution - calculation..."
CALC_RESPONSE=$(curl -s -X POST http://localhost:8000/run \
  -H "Content-Type: application/json" \
  -d '{"code":"print(10 + 20)","timeout":5}')
if echo "$CALC_RESPONSE" | grep -q "30"; then
  echo "✓ Calculation execution passed"
  echo "$CALC_RESPONSE"
else
  echo "✗ Calculation execution failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

# Test error handling
echo "9. Testing code execution - error handling..."
ERROR_RESPONSE=$(curl -s -X POST http://localhost:8000/run \
  -H "Content-Type: application/json" \
  -d '{"code":"x = 1 / 0","timeout":5}')
if echo "$ERROR_RESPONSE" | grep -q "ZeroDivisionError"; then
  echo "✓ Error handling passed"
  echo "$ERROR_RESPONSE"
else
  echo "✗ Error handling failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

# Test timeout
echo "10. Testing code execution - timeout..."
TIMEOUT_RESPONSE=$(curl -s -X POST http://localhost:8000/run \
  -H "Content-Type: application/json" \
  -d '{"code":"import time\ntime.sleep(10)","timeout":2}')
if echo "$TIMEOUT_RESPONSE" | grep -q "timed_out.*true"; then
  echo "✓ Timeout handling passed"
  echo "$TIMEOUT_RESPONSE"
else
  echo "✗ Timeout handling failed"
  kill $PORT_FORWARD_PID 2>/dev/null
  exit 1
fi
echo

echo "==================================="
echo "✓ All validations passed!"
echo "==================================="
